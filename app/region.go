package app

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// regionGuess is the region the setup form proposes for a new node and why.
type regionGuess struct {
	Region string // one of config.Regions
	Zone   string // the time zone it came from ("Europe/Berlin"); "" when none was found
}

// hint is the text shown next to the Region field while the guess is selected.
func (g regionGuess) hint() string {
	if g.Zone == "" {
		return "picked from your time zone; change it if your machine is elsewhere"
	}
	return "picked from your time zone (" + g.Zone + "); change it if your machine is elsewhere"
}

// guessRegion picks the region for this machine from its time zone: TZ, then
// /etc/localtime, /etc/timezone, then Go's local zone. It never fails: without a zone
// name the UTC offset decides, and UTC itself means "global".
func guessRegion(now time.Time) regionGuess {
	name := localZoneName(os.LookupEnv, os.Readlink, os.ReadFile)
	_, offset := now.In(time.Local).Zone()
	if name != "" {
		if loc, err := time.LoadLocation(name); err == nil {
			offset = standardOffset(loc, now)
		}
	} else {
		offset = standardOffset(time.Local, now)
	}
	return regionGuess{Region: regionForZone(name, offset), Zone: name}
}

// standardOffset is loc's UTC offset in seconds outside daylight saving time: the
// smaller of January's and July's (daylight saving time only ever adds).
func standardOffset(loc *time.Location, now time.Time) int {
	y := now.Year()
	_, jan := time.Date(y, 1, 1, 12, 0, 0, 0, loc).Zone()
	_, jul := time.Date(y, 7, 1, 12, 0, 0, 0, loc).Zone()
	return min(jan, jul)
}

// localZoneName is the IANA name of this machine's time zone ("Europe/Berlin"), or ""
// when it cannot be told. TZ wins (":Europe/Berlin" and paths into a zoneinfo folder
// are understood; TZ set but empty means UTC), then the /etc/localtime symlink, then
// /etc/timezone (Debian), then Go's name for the local zone.
func localZoneName(lookupEnv func(string) (string, bool), readlink func(string) (string, error), readFile func(string) ([]byte, error)) string {
	if tz, ok := lookupEnv("TZ"); ok {
		tz = strings.TrimPrefix(strings.TrimSpace(tz), ":")
		if tz == "" {
			return "UTC"
		}
		if name := zoneFromPath(tz); !strings.HasPrefix(name, "/") {
			return name
		} // a file outside a zoneinfo folder (TZ=/etc/localtime): look further
	}
	if target, err := readlink("/etc/localtime"); err == nil {
		if name := zoneFromPath(target); name != "" && !strings.HasPrefix(name, "/") {
			return name
		}
	}
	if b, err := readFile("/etc/timezone"); err == nil {
		if name := strings.TrimSpace(string(b)); name != "" && !strings.HasPrefix(name, "/") {
			return name
		}
	}
	if name := time.Local.String(); name != "Local" && name != "" {
		return name
	}
	return ""
}

// zoneFromPath turns "/usr/share/zoneinfo/Europe/Berlin" (or "../zoneinfo/...") into
// "Europe/Berlin"; a bare name is returned as is.
func zoneFromPath(p string) string {
	p = filepath.ToSlash(p)
	if i := strings.LastIndex(p, "zoneinfo/"); i >= 0 {
		p = p[i+len("zoneinfo/"):]
		p = strings.TrimPrefix(p, "posix/")
		p = strings.TrimPrefix(p, "right/")
	}
	return p
}

// regionForZone maps an IANA time zone name, with its standard UTC offset in seconds,
// to the nearest region the gateway documents (config.Regions). The name's area says
// the continent; the offset splits it (US west of the Central zone, western and central
// Europe, the Middle East) and decides alone for names it does not know.
func regionForZone(name string, offset int) string {
	h := float64(offset) / 3600
	area, city, _ := strings.Cut(name, "/")
	switch area {
	case "", "UTC", "Etc", "GMT", "UCT", "Universal", "Zulu", "Greenwich":
		if offset == 0 { // UTC, or no zone at all: no place to be near
			return "global"
		} // Etc/GMT+5 and the like: the offset decides
	case "America", "US", "Canada", "Mexico", "Brazil", "Chile", "Cuba", "Jamaica", "Navajo":
		if h <= -7 {
			return "us-west"
		}
		return "us-east"
	case "Pacific":
		if h <= -3 { // Honolulu, Pago Pago, the Galápagos: the Americas' side
			return "us-west"
		}
		return "asia-pacific"
	case "Europe", "GB", "Eire", "Portugal", "Iceland", "Poland", "Turkey", "WET", "CET", "MET", "EET":
		if h <= 0 {
			return "eu-west"
		}
		if westernEurope[city] {
			return "eu-west"
		}
		return "eu-central"
	case "Atlantic":
		if h >= -2 { // Azores, Canaries, Madeira, Reykjavik, Faroe
			return "eu-west"
		}
		return "us-east" // Bermuda, Stanley
	case "Africa":
		if h <= 0 {
			return "eu-west"
		}
		return "eu-central"
	case "Asia", "Australia", "Indian", "Antarctica", "Japan", "Singapore", "Hongkong", "PRC", "ROC", "ROK", "NZ", "Iran", "Israel":
		if h < 5 && area != "Antarctica" && area != "Indian" {
			return "eu-central" // the Middle East: nearer Frankfurt than Singapore
		}
		return "asia-pacific"
	}
	switch {
	case h <= -7:
		return "us-west"
	case h <= -3:
		return "us-east"
	case h <= 0:
		return "eu-west"
	case h < 5:
		return "eu-central"
	default:
		return "asia-pacific"
	}
}

// westernEurope are the zones east of UTC whose nearest region is still eu-west.
var westernEurope = map[string]bool{
	"Paris": true, "Brussels": true, "Amsterdam": true, "Luxembourg": true, "Madrid": true,
	"Monaco": true, "Andorra": true, "Gibraltar": true,
}
