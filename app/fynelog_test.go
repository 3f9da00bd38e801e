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

func TestFyneLogFilterSaysOnceThatNotificationsAreNotShown(t *testing.T) {
	var b strings.Builder
	l := log.New(newFyneLogFilter(&b), "", log.LstdFlags)
	for range 3 {
		l.Println("Fyne error: ", "Failed to send message to bus")
		l.Println("  Cause:", "The name org.freedesktop.Notifications was not provided by any .service files")
		l.Printf("  At: %s:%d", "/x/fyne/app/app_xdg.go", 83)
	}
	l.Println("Fyne error: ", "Failed to send message to bus")
	l.Println("  Cause:", "The name org.freedesktop.ScreenSaver was not provided by any .service files")
	l.Printf("  At: %s:%d", "/x/fyne/internal/driver/glfw/driver_xdg.go", 45)
	got := b.String()
	if strings.Count(got, "desktop notifications are not shown") != 1 || strings.Contains(got, "org.freedesktop.Notifications was not") {
		t.Errorf("notification errors not folded into one line:\n%s", got)
	}
	if !strings.Contains(got, "ScreenSaver") || strings.Count(got, "At:") != 1 || strings.Count(got, "Failed to send message to bus") != 1 {
		t.Errorf("other bus errors must still be logged whole:\n%s", got)
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "20") && !strings.HasPrefix(line, "19") {
			t.Errorf("line without the logger's date: %q", line)
		}
	}
}
