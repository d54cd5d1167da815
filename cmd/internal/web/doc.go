// Package web is gracevisord's status page: plain HTML, CSS and JavaScript
// embedded in the binary, no build step and nothing loaded from elsewhere.
// It talks to the same /api/v1 endpoints as gracevisorctl, with the token
// (if any) the user typed once and the tab keeps in sessionStorage. The
// page and its static files need no token (cmd/internal/auth lets them
// through); the data they show does.
package web
