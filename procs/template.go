package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gracevisor/gracevisor/config"
)

// appPlaceholder is replaced by the app's name in templates.
const appPlaceholder = "{app}"

// renderTemplates writes each of app's templates for the instance in slot
// on port (a string): src's text with {port}, {instance} and {app}
// replaced, to dst with the same replacements. Each file is written to a temporary file in dst's
// folder and renamed over dst, so an instance never reads half a file. It
// gets src's permission bits, and owner's uid and gid when owner is not nil
// (the app runs as another user).
func renderTemplates(app *config.App, port string, slot int, owner *syscall.Credential) error {
	r := strings.NewReplacer(portPlaceholder, port, instancePlaceholder, strconv.Itoa(slot), appPlaceholder, app.Name)
	for _, t := range app.Templates {
		if err := renderTemplate(r, t.Src, r.Replace(t.Dst), owner); err != nil {
			return fmt.Errorf("template %s: %w", t.Src, err)
		}
	}
	return nil
}

func renderTemplate(r *strings.Replacer, src, dst string, owner *syscall.Credential) error {
	text, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, err = f.WriteString(r.Replace(string(text)))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), fi.Mode().Perm())
	}
	if err == nil && owner != nil {
		err = os.Chown(f.Name(), int(owner.Uid), int(owner.Gid))
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	return err
}
