// Package logtail reads an app's log file for GET /api/v1/apps/{name}/logs:
// Open positions at the start of its last n lines (reading backwards in
// blocks, so memory stays bounded), and Follow copies what is appended,
// like tail -F, across lumberjack's rotations and truncations.
package logtail
