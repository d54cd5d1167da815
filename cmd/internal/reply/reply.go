// Package reply writes the control API's answers: every body is indented
// JSON, and every error is an api.ErrorReply, whichever layer answers (the
// guard in cmd/internal/auth, the page in cmd/internal/web, the handlers in
// cmd/internal/apiserver).
package reply

import (
	"encoding/json"
	"net/http"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// JSON answers code with v as indented JSON.
func JSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing left to tell it
}

// Error answers code with the message msg.
func Error(w http.ResponseWriter, code int, msg string) {
	JSON(w, code, api.ErrorReply{Error: msg})
}
