package s3

import "net/http"

// pipelineExtras are the middlewares of Swift's pipeline between the core
// and Keystone auth that the end-to-end tests here run with, innermost
// first (objectstore.NewProxy has the real order).
func pipelineExtras() []func(http.Handler) http.Handler { return nil }

// hasMultipart reports whether the SLO middleware is in pipelineExtras.
func hasMultipart() bool { return false }

// hasCopy reports whether the copy middleware is in pipelineExtras.
func hasCopy() bool { return false }
