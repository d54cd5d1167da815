# Reads `go test -bench . ./l4proxy/` output (any -count); prints a Markdown table of
# median figures and proxied/direct ratios (for ns/op: direct/proxied, higher is better).
# Usage: awk -f l4proxy/testdata/ratios.awk bench.txt
/^Benchmark/ {
  split($1, a, "/"); bench = a[1]; sub(/^Benchmark/, "", bench); v = a[2]; sub(/-[0-9]+$/, "", v)
  for (i = 3; i < NF; i++) {
    if ($(i+1) == "MB/s") val[bench, v, "MB/s", ++n[bench, v, "MB/s"]] = $i
    if ($(i+1) == "conns/s") val[bench, v, "conns/s", ++n[bench, v, "conns/s"]] = $i
    if ($(i+1) == "ns/op") val[bench, v, "ns/op", ++n[bench, v, "ns/op"]] = $i
    if ($(i+1) == "cpu-ns/op") val[bench, v, "cpu", ++n[bench, v, "cpu"]] = $i
  }
  if (!(bench in seen)) { seen[bench] = 1; order[++nb] = bench }
}
function med(b, v, u,   k, m, t, i, j, x) {
  m = n[b, v, u]; if (!m) return 0
  for (i = 1; i <= m; i++) x[i] = val[b, v, u, i]
  for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
  return (m % 2) ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
}
END {
  printf "| benchmark | unit | direct | proxied | ratio | inproc | ratio | CPU/op direct | CPU/op proxied (all processes but the server) |\n|---|---|---|---|---|---|---|---|---|\n"
  for (k = 1; k <= nb; k++) {
    b = order[k]
    u = n[b, "direct", "MB/s"] ? "MB/s" : (n[b, "direct", "conns/s"] ? "conns/s" : "ns/op")
    d = med(b, "direct", u); p = med(b, "proxied", u); q = med(b, "inproc", u)
    r1 = (u == "ns/op") ? d / p : p / d; r2 = (u == "ns/op") ? d / q : q / d
    printf "| %s | %s | %.0f | %.0f | **%.2f** | %.0f | %.2f | %.1f µs | %.1f µs |\n", b, u, d, p, r1, q, r2, med(b, "direct", "cpu") / 1000, med(b, "proxied", "cpu") / 1000
  }
}
