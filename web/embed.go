// Package web holds the browser app, the JS SDK and the embed example, built
// into the binary with go:embed. No build step: plain ES modules.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:app all:sdk all:example
var files embed.FS

// FS returns the embedded web files rooted at web/: app/, sdk/, example/.
func FS() fs.FS { return files }
