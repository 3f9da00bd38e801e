package app

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/internal/config"
)

// The config loader names fields by their JSON path ("nodes[0].region"), which is
// right for the CLI and config.json but not for the setup form. These functions speak
// the form's language: fields as the form labels them ("Node 1 › Region") and, for a
// missing value, what to do in the form ("choose a region").

// fieldLabels are the form's labels of the top-level and per-node config keys.
var fieldLabels = map[string]string{
	"clientId":               "Client ID",
	"apiSecret":              "API secret",
	"serverUrl":              "Gateway URL",
	"nodes":                  "Nodes",
	"alias":                  "Alias",
	"inferenceUri":           "Backend URL",
	"apiMode":                "API",
	"region":                 "Region",
	"capacity":               "Capacity",
	"pricePerThousandTokens": "Price",
	"interviewModel":         "Interview model",
	"ttsUri":                 "TTS URL",
	"ttsModels":              "TTS models",

	// When to serve (owner_settings.go).
	"schedule":                 "When to serve › Serving hours",
	"schedule.from":            "When to serve › From",
	"schedule.to":              "When to serve › To",
	"schedule.days":            "When to serve › Days",
	"pauseWhenBusy":            "When to serve › Pause while busy",
	"pauseWhenBusy.cpuPercent": "When to serve › CPU above (%)",
	"pauseWhenBusy.gpuPercent": "When to serve › GPU above (%)",
	"pauseWhenBusy.forSeconds": "When to serve › For (seconds)",
}

// missingFix is what the form asks for when a field is empty, by key.
var missingFix = map[string]string{
	"clientId":     "enter your operator id (op_…) from the PIN dashboard",
	"apiSecret":    "paste your API secret (pin_sk_…) from the PIN dashboard",
	"nodes":        "add a node: Detect local servers, or Add node",
	"alias":        "give the node a name, e.g. GPU-1",
	"inferenceUri": "enter the backend URL, e.g. http://localhost:11434 (Ollama) or http://localhost:8000 (vLLM)",
	"apiMode":      "choose ollama or openai",
	"region":       "choose a region",
}

var nodePathRE = regexp.MustCompile(`nodes\[(\d+)\](?:\.([A-Za-z]+)(?:\[\d+\])?)?`)

// fieldLabel names a config path as the form labels it: "clientId" → "Client ID",
// "nodes[0].region" → "Node 1 › Region", "nodes[1].ttsModels[2]" → "Node 2 › TTS
// models". A key the form does not show keeps its name, as in config.json.
func fieldLabel(path string) string {
	if m := nodePathRE.FindStringSubmatch(path); m != nil && m[0] == path {
		i, _ := strconv.Atoi(m[1])
		node := fmt.Sprintf("Node %d", i+1)
		if m[2] == "" {
			return node
		}
		return node + " › " + keyLabel(m[2])
	}
	return keyLabel(path)
}

func keyLabel(key string) string {
	if l, ok := fieldLabels[key]; ok {
		return l
	}
	return key + " (in config.json)"
}

// pathKey is the last key of a path: "nodes[0].ttsModels[1]" → "ttsModels".
func pathKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}

// fieldFix is the problem with the field at path in the form's words: the loader's
// message, or for a missing value what to do in the form. Other fields named in the
// message are named by their labels too.
func fieldFix(path, msg string) string {
	if strings.HasPrefix(msg, "missing;") || strings.HasPrefix(msg, "empty;") {
		if fix, ok := missingFix[pathKey(path)]; ok {
			return fix
		}
	}
	return nodePathRE.ReplaceAllStringFunc(msg, fieldLabel)
}

// formProblem is one line for the form's list of problems:
// "Node 1 › Region: choose a region".
func formProblem(fe *config.FieldError) string {
	return fieldLabel(fe.Path) + ": " + fieldFix(fe.Path, fe.Msg)
}

// formWarning rewrites one of the loader's warnings ("nodes[0].region: \"mars\" is not
// a documented region…") in the form's words ("Node 1 › Region: …").
func formWarning(w string) string {
	path, msg, ok := strings.Cut(w, ": ")
	if !ok || strings.ContainsAny(path, " \"") {
		return nodePathRE.ReplaceAllStringFunc(w, fieldLabel)
	}
	return fieldLabel(path) + ": " + nodePathRE.ReplaceAllStringFunc(msg, fieldLabel)
}

// selectErrLabel is the line under a select that shows its problem (entries show
// theirs themselves).
func selectErrLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	return l
}

// showSelectErr shows the problem at path, if any, on the select's line.
func (n *nodeForm) showSelectErr(l *widget.Label, path string) {
	err := n.f.errorAt(path)
	if err == nil {
		if l.Visible() {
			l.SetText("")
			l.Hide()
		}
		return
	}
	l.SetText(err.Error())
	l.Show()
}

// regionChanged keeps the "picked from your time zone" hint only while the guessed
// region is selected on a node that started with it.
func (n *nodeForm) regionChanged() {
	if n.regionItem == nil || n.form == nil {
		return
	}
	hint := ""
	if n.guessed && n.region.Selected == n.f.region.Region {
		hint = n.f.region.hint()
	}
	if hint != n.regionItem.HintText {
		n.regionItem.HintText = hint
		n.form.Refresh()
	}
}

// showSaveErr shows why Save failed. An error about a field ("apiSecret: no OS keyring
// is reachable…", from storing the secret) is shown on that field and in the list, in
// the form's words; another (the config file could not be written) as it is.
func (f *setupForm) showSaveErr(err error) {
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		if path, msg, ok := strings.Cut(err.Error(), ": "); ok && formPath(path) {
			fe = &config.FieldError{Path: path, Msg: msg}
		}
	}
	if fe != nil {
		f.setErrs([]*config.FieldError{fe})
		return
	}
	f.err = err
	f.showProblem(err)
}

// formPath reports whether path names a field the setup form shows.
func formPath(path string) bool {
	if m := nodePathRE.FindString(path); m != "" && m == path {
		return true
	}
	switch path {
	case "clientId", "apiSecret", "serverUrl", "nodes":
		return true
	}
	return false
}

// problemImportance is how the list of problems is shown: as a plain to-do list while
// every problem is a value still to fill in (a new operator's first view of the form),
// in red once something entered is wrong.
func problemImportance(errs []*config.FieldError) widget.Importance {
	for _, fe := range errs {
		if !strings.HasPrefix(fe.Msg, "missing;") && !strings.HasPrefix(fe.Msg, "empty;") {
			return widget.DangerImportance
		}
	}
	return widget.MediumImportance
}

func setImportance(l *widget.Label, imp widget.Importance) {
	if l.Importance != imp {
		l.Importance = imp
		l.Refresh()
	}
}

// maxProblemLines bounds the list under the form, which sits above Save and would
// otherwise squeeze the form away on a new card full of mistakes.
const maxProblemLines = 5

// problemList is lines as listed under the form: all of them, or the first few and how
// many more there are (each is on its field).
func problemList(lines []string) []string {
	if len(lines) <= maxProblemLines {
		return lines
	}
	more := len(lines) - (maxProblemLines - 1)
	return append(slices.Clip(lines[:maxProblemLines-1]), fmt.Sprintf("…and %d more, each shown on its field", more))
}
