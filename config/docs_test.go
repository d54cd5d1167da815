package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// docsFile is the configuration reference every accepted key must appear in.
const docsFile = "../docs/configuration.md"

// appsHeading starts the section of docsFile that documents an app's keys;
// the section ends at the next "## " heading.
const appsHeading = "## Apps"

// TestDocsListEveryKey fails when a YAML key that the config package accepts
// has no row in docs/configuration.md. The keys are read from the schema
// itself (the fields{…} literals of the decoder's methods, followed from
// the root), not from a list kept by hand, and each one is checked to be
// really accepted by the decoder.
//
// A key is documented when a table row's first cell names it in backticks:
// top-level keys by their dotted path (`rpc.socket_mode`,
// `alerts.webhook.url`) anywhere outside the Apps section, an app's keys by
// their path inside the app (`stop_signal`, `logger.stdout_log_file`) in the
// Apps section. A mapping such as `rpc` counts as documented when a key
// under it is.
func TestDocsListEveryKey(t *testing.T) {
	keys := schemaKeys(t)
	for _, want := range []string{"port_range.from", "rpc.token_file", "apps", "apps.name",
		"apps.logger.stdout_log_file", "apps.alerts.webhook.url", "statsd.interval"} {
		if !slices.Contains(keys, want) {
			t.Fatalf("schema walk found %d keys but not %q; has schema.go changed shape? keys: %v", len(keys), want, keys)
		}
	}
	checkAccepted(t, keys)

	data, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	top, apps := docRows(string(data))
	if len(apps) == 0 {
		t.Fatalf("%s has no %q section with table rows", docsFile, appsHeading)
	}
	for _, k := range keys {
		rows, key, where := top, k, "outside the Apps section"
		if rel, ok := strings.CutPrefix(k, "apps."); ok {
			rows, key, where = apps, rel, "in the "+appsHeading+" section"
		}
		if !documented(rows, key) {
			t.Errorf("%s does not document the key %q: want a table row starting with | `%s` %s",
				docsFile, k, key, where)
		}
	}
}

// documented reports whether a row names key, or a key under it.
func documented(rows map[string]bool, key string) bool {
	for r := range rows {
		if r == key || strings.HasPrefix(r, key+".") {
			return true
		}
	}
	return false
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	keyLike  = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*$`)
)

// docRows collects the keys named in the first cell of the markdown table
// rows of doc, split into the Apps section and the rest.
func docRows(doc string) (top, apps map[string]bool) {
	top, apps = map[string]bool{}, map[string]bool{}
	inApps := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			inApps = strings.HasPrefix(line, appsHeading)
		}
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
			if keyLike.MatchString(m[1]) {
				if inApps {
					apps[m[1]] = true
				} else {
					top[m[1]] = true
				}
			}
		}
	}
	return top, apps
}

// schemaKeys walks the decoder's methods from (*decoder).config and returns
// every key path it accepts, apps' keys as "apps.KEY", sorted.
func schemaKeys(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := schemaWalker{methods: map[string]*ast.FuncDecl{}, seen: map[string]bool{}, keys: map[string]bool{}}
	for _, f := range pkgs["config"].Files {
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && isDecoderMethod(fn) {
				w.methods[fn.Name.Name] = fn
			}
		}
	}
	if w.methods["config"] == nil {
		t.Fatal("no (*decoder).config method: the schema walk starts there")
	}
	w.walk("config", "", nil)
	keys := make([]string, 0, len(w.keys))
	for k := range w.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isDecoderMethod(fn *ast.FuncDecl) bool {
	if fn.Recv == nil || len(fn.Recv.List) != 1 || len(fn.Recv.List[0].Names) != 1 {
		return false
	}
	star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && id.Name == "decoder"
}

// schemaWalker follows the decoder's methods through the source: a key of a
// fields{…} literal (or an fs["key"] = … assignment) adds prefix+key and
// descends into the method that decodes its value; any other call of a
// decoder method (apps → app) descends with the same prefix. Boolean
// literals passed as arguments are bound, so "if perApp { … }" is skipped
// for a call with perApp false.
type schemaWalker struct {
	methods map[string]*ast.FuncDecl
	seen    map[string]bool
	keys    map[string]bool
}

func (w *schemaWalker) walk(method, prefix string, bound map[string]bool) {
	fn := w.methods[method]
	id := fmt.Sprint(method, "|", prefix, "|", bound)
	if fn == nil || w.seen[id] {
		return
	}
	w.seen[id] = true
	recv := fn.Recv.List[0].Names[0].Name
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt:
			if c, ok := n.Cond.(*ast.Ident); ok {
				if v, ok := bound[c.Name]; ok && !v {
					if n.Else != nil {
						ast.Inspect(n.Else, visit)
					}
					return false
				}
			}
		case *ast.CompositeLit:
			if typ, ok := n.Type.(*ast.Ident); ok && typ.Name == "fields" {
				for _, e := range n.Elts {
					kv := e.(*ast.KeyValueExpr)
					w.key(recv, prefix, kv.Key, kv.Value)
				}
				return false
			}
		case *ast.AssignStmt:
			if ix, ok := n.Lhs[0].(*ast.IndexExpr); ok && len(n.Rhs) == 1 {
				if _, ok := w.decoderCall(recv, n.Rhs[0]); ok {
					w.key(recv, prefix, ix.Index, n.Rhs[0])
					return false
				}
			}
		case *ast.CallExpr:
			if m, ok := w.decoderCall(recv, n); ok {
				w.walk(m, prefix, w.bind(m, n))
			}
		}
		return true
	}
	ast.Inspect(fn.Body, visit)
}

// key records the key k (a string literal) and descends into its decoder.
func (w *schemaWalker) key(recv, prefix string, k, value ast.Expr) {
	lit, ok := k.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return
	}
	name, err := strconv.Unquote(lit.Value)
	if err != nil {
		return
	}
	w.keys[prefix+name] = true
	if m, ok := w.decoderCall(recv, value); ok {
		w.walk(m, prefix+name+".", w.bind(m, value.(*ast.CallExpr)))
	}
}

// decoderCall reports whether e calls a decoder method (recv.M(…)), and which.
func (w *schemaWalker) decoderCall(recv string, e ast.Expr) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok || x.Name != recv || w.methods[sel.Sel.Name] == nil {
		return "", false
	}
	return sel.Sel.Name, true
}

// bind maps method's parameters to the boolean literals call passes them.
func (w *schemaWalker) bind(method string, call *ast.CallExpr) map[string]bool {
	var params []string
	for _, f := range w.methods[method].Type.Params.List {
		for _, n := range f.Names {
			params = append(params, n.Name)
		}
	}
	bound := map[string]bool{}
	for i, a := range call.Args {
		if id, ok := a.(*ast.Ident); ok && i < len(params) && (id.Name == "true" || id.Name == "false") {
			bound[params[i]] = id.Name == "true"
		}
	}
	return bound
}

// checkAccepted decodes, for each key, a document that writes only that key
// (as null), and fails if the decoder calls it unknown: the walk above must
// not invent keys.
func checkAccepted(t *testing.T, keys []string) {
	t.Helper()
	for _, k := range keys {
		parts := strings.Split(k, ".")
		var v any // the innermost key is written as null
		for i := len(parts) - 1; i >= 0; i-- {
			v = map[string]any{parts[i]: v}
			if i == 1 && parts[0] == "apps" {
				v = []any{v}
			}
		}
		doc, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(doc, &root); err != nil {
			t.Fatalf("key %q: document %q: %v", k, doc, err)
		}
		var ps problems
		newDecoder("docs.yaml", &ps).config(root.Content[0])
		for _, p := range ps.list {
			if strings.HasPrefix(p.Msg, "unknown key") {
				t.Errorf("the schema walk found key %q, but the decoder rejects it: %v", k, p)
			}
		}
	}
}
