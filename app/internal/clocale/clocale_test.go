package clocale

import "testing"

func TestFix(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{"LANG": "C.UTF-8"}, true},
		{map[string]string{"LC_ALL": "POSIX.utf8"}, true},
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "de"}, false},
		{map[string]string{"LANG": "C"}, false}, // go-locale reads "C" itself as no language
		{map[string]string{}, false},
		{map[string]string{"LANG": "de_DE.UTF-8"}, false},
		{map[string]string{"LC_ALL": "en_US.UTF-8", "LANG": "C.UTF-8"}, false},
	} {
		k, v, ok := Fix(func(k string) string { return tt.env[k] })
		if ok != tt.want || ok && (k != "LANGUAGE" || v != "en") {
			t.Errorf("Fix(%v) = %q=%q %v, want fix %v", tt.env, k, v, ok, tt.want)
		}
	}
}
