package app

import (
	"log"
	"strings"
	"testing"
)

func TestLocaleFix(t *testing.T) {
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
		k, v, ok := localeFix(func(k string) string { return tt.env[k] })
		if ok != tt.want || ok && (k != "LANGUAGE" || v != "en") {
			t.Errorf("localeFix(%v) = %q=%q %v, want fix %v", tt.env, k, v, ok, tt.want)
		}
	}
}

func TestFyneLogFilterDropsPreferencesEOF(t *testing.T) {
	var b strings.Builder
	l := log.New(newFyneLogFilter(&b), "", log.LstdFlags)
	l.Println("Fyne error: ", "Preferences load error:")
	l.Println("  Cause:", "EOF")
	l.Printf("  At: %s:%d", "/x/fyne/app/preferences.go", 103)
	l.Println("engine stopped")
	l.Println("Fyne error: ", "Preferences load error:")
	l.Println("  Cause:", "invalid character 'x'")
	l.Printf("  At: %s:%d", "/x/fyne/app/preferences.go", 103)
	got := b.String()
	if strings.Contains(got, "EOF") || !strings.Contains(got, "engine stopped") {
		t.Errorf("log:\n%s", got)
	}
	if strings.Count(got, "Preferences load error") != 1 || !strings.Contains(got, "invalid character") || strings.Count(got, "At:") != 1 {
		t.Errorf("a real preferences error must still be logged:\n%s", got)
	}
}
