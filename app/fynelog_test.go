package app

import (
	"log"
	"strings"
	"testing"
)

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
