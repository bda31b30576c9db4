package identity

import "github.com/nimbus-cloud/nimbus/internal/httpx"

func httpxOptions() httpx.Options { return httpx.Options{} }
