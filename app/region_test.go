package app

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pin-client/pin-client/internal/config"
)

func TestRegionForZone(t *testing.T) {
	const h = 3600
	for _, tt := range []struct {
		name   string
		offset int
		want   string
	}{
		{"America/New_York", -5 * h, "us-east"},
		{"America/Chicago", -6 * h, "us-east"},
		{"America/Denver", -7 * h, "us-west"},
		{"America/Los_Angeles", -8 * h, "us-west"},
		{"US/Pacific", -8 * h, "us-west"},
		{"America/Sao_Paulo", -3 * h, "us-east"},
		{"Pacific/Honolulu", -10 * h, "us-west"},
		{"Europe/London", 0, "eu-west"},
		{"Europe/Lisbon", 0, "eu-west"},
		{"Europe/Paris", 1 * h, "eu-west"},
		{"Europe/Berlin", 1 * h, "eu-central"},
		{"Europe/Warsaw", 1 * h, "eu-central"},
		{"Europe/Kyiv", 2 * h, "eu-central"},
		{"Atlantic/Reykjavik", 0, "eu-west"},
		{"Africa/Lagos", 1 * h, "eu-central"},
		{"Africa/Dakar", 0, "eu-west"},
		{"Asia/Dubai", 4 * h, "eu-central"},
		{"Asia/Kolkata", 5*h + 1800, "asia-pacific"},
		{"Asia/Tokyo", 9 * h, "asia-pacific"},
		{"Australia/Sydney", 10 * h, "asia-pacific"},
		{"Pacific/Auckland", 12 * h, "asia-pacific"},
		{"UTC", 0, "global"},
		{"Etc/UTC", 0, "global"},
		{"", 0, "global"},
		{"Etc/GMT+8", -8 * h, "us-west"},
		{"", 9 * h, "asia-pacific"}, // no name (Windows): the offset decides
		{"", -5 * h, "us-east"},
	} {
		got := regionForZone(tt.name, tt.offset)
		if got != tt.want {
			t.Errorf("regionForZone(%q, %d) = %q, want %q", tt.name, tt.offset, got, tt.want)
		}
		if !slices.Contains(config.Regions, got) {
			t.Errorf("regionForZone(%q) = %q is not a documented region", tt.name, got)
		}
	}
}

func TestLocalZoneName(t *testing.T) {
	noLink := func(string) (string, error) { return "", errors.New("no link") }
	noFile := func(string) ([]byte, error) { return nil, errors.New("no file") }
	env := func(v string, set bool) func(string) (string, bool) {
		return func(string) (string, bool) { return v, set }
	}
	for _, tt := range []struct {
		what     string
		env      func(string) (string, bool)
		readlink func(string) (string, error)
		readFile func(string) ([]byte, error)
		want     string
	}{
		{"TZ name", env("Europe/Berlin", true), noLink, noFile, "Europe/Berlin"},
		{"TZ colon", env(":America/Denver", true), noLink, noFile, "America/Denver"},
		{"TZ path", env("/usr/share/zoneinfo/Asia/Tokyo", true), noLink, noFile, "Asia/Tokyo"},
		{"TZ empty is UTC", env("", true), noLink, noFile, "UTC"},
		{"TZ a file", env("/etc/localtime", true), func(string) (string, error) { return "/usr/share/zoneinfo/Asia/Tokyo", nil }, noFile, "Asia/Tokyo"},
		{"localtime link", env("", false), func(string) (string, error) { return "../usr/share/zoneinfo/Europe/Paris", nil }, noFile, "Europe/Paris"},
		{"/etc/timezone", env("", false), noLink, func(string) ([]byte, error) { return []byte("Asia/Kolkata\n"), nil }, "Asia/Kolkata"},
	} {
		if got := localZoneName(tt.env, tt.readlink, tt.readFile); got != tt.want {
			t.Errorf("%s: localZoneName = %q, want %q", tt.what, got, tt.want)
		}
	}
}

func TestGuessRegionFromTZ(t *testing.T) {
	t.Setenv("TZ", "America/Los_Angeles")
	g := guessRegion(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	if g.Region != "us-west" || g.Zone != "America/Los_Angeles" {
		t.Errorf("guessRegion = %+v", g)
	}
	if h := g.hint(); h != "picked from your time zone (America/Los_Angeles); change it if your machine is elsewhere" {
		t.Errorf("hint = %q", h)
	}
}
