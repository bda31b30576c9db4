package dlo

import "testing"

func TestValidManifest(t *testing.T) {
	for v, want := range map[string]bool{
		"c/p": true, "c/p/q": true, "c/": false, "/c/p": false, "c": false, "c//p": false,
		"c/p?x": false, "c/p&x": false, "": false,
	} {
		if got := validManifest(v); got != want {
			t.Errorf("validManifest(%q) = %v", v, got)
		}
	}
}
