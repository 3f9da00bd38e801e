package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// Time limits for the setup screen's background work.
const (
	detectTimeout = 8 * time.Second
	probeTimeout  = 15 * time.Second
)

// gatewayChoice is the interview-model option meaning "no interviewModel".
const gatewayChoice = "(let the gateway choose)"

// setupForm is the setup screen (first run) and the Settings screen (later): the
// operator's credentials, the gateway, and one card per node. Validation uses the
// config loader's own rules and messages (config.Check), so what the form accepts the
// daemon accepts too.
type setupForm struct {
	u    *UI
	base config.Config // the saved config: fields the form does not show are kept
	// haveSecret: a secret is already stored (Settings), so an empty field keeps it.
	haveSecret bool
	// path is where Save writes: the app's config.json, or the config file of the
	// attached engine (which is then asked to reload it).
	path     string
	attached string // the attached engine's name ("background service"); "" for the app's own

	clientID   *widget.Entry
	secret     *widget.Entry
	gateway    *widget.Entry
	nodes      []*nodeForm
	nodesBox   *fyne.Container
	detect     *widget.Button
	detectNote *widget.Label
	problem    *widget.Label // every problem, each named as the form labels its field
	warnings   *widget.Label
	save       *widget.Button
	cancel     *widget.Button
	content    fyne.CanvasObject

	owner *ownerForm // serving hours and busy (owner_settings.go)

	err    error                // the first problem of the last check or save; nil when the form is valid
	errs   []*config.FieldError // every problem of the last check, in form order
	region regionGuess          // the region new nodes start with
	saving bool
}

// nodeForm is one node's card in the setup form.
type nodeForm struct {
	f       *setupForm
	kind    string // what detection found ("Ollama"); empty when added by hand
	alias   *widget.Entry
	url     *widget.Entry
	apiMode *widget.Select
	region  *widget.Select
	// regionItem carries the "picked from your time zone" hint while the guessed region
	// is selected; form is refreshed when it changes.
	regionItem *widget.FormItem
	form       *widget.Form
	guessed    bool // the region was guessed from the time zone
	// apiModeErr and regionErr show the problem of the selects (entries show their own).
	apiModeErr, regionErr *widget.Label
	capacity              *widget.Entry
	price                 *widget.Entry
	interview             *widget.Select
	ttsURL                *widget.Entry
	ttsModels             *widget.Entry
	test                  *widget.Button
	result                *widget.Label
	card                  *widget.Card
}

// showSetup puts the setup form in the window, filled from the saved config, and starts
// detection when there are no nodes yet. UI thread.
func (u *UI) showSetup() {
	base, path := u.settingsTarget()
	f := &setupForm{u: u, haveSecret: u.cfg != nil, path: path, region: guessRegion(u.opts.Now())}
	if e := u.engineShown(); e.Attached() {
		f.attached = e.Name()
	}
	if base != nil {
		f.base = *base
	}
	f.build()
	u.setup = f
	u.win.SetContent(f.content)
	if len(f.nodes) == 0 {
		f.runDetect()
	}
	f.revalidate()
	if u.message != "" && u.cfg == nil {
		f.problem.SetText(u.message) // why the saved config could not be used
		f.problem.Show()
	}
}

func (f *setupForm) build() {
	u := f.u
	f.clientID = f.entry("clientId", f.base.ClientID, "op_…")
	f.secret = widget.NewPasswordEntry()
	f.secret.SetPlaceHolder("pin_sk_…")
	if f.haveSecret {
		f.secret.SetPlaceHolder("stored in the keyring; leave empty to keep it")
	}
	f.hook(f.secret, "apiSecret")
	gw := f.base.ServerURL
	if gw == "" {
		gw = config.DefaultServerURL
	}
	f.gateway = f.entry("serverUrl", gw, config.DefaultServerURL)

	account := widget.NewForm(
		&widget.FormItem{Text: "Client ID", Widget: f.clientID, HintText: "your operator id from the PIN dashboard"},
		&widget.FormItem{Text: "API secret", Widget: f.secret, HintText: "kept in the OS keyring, never in config.json"},
	)
	advanced := widget.NewAccordion(widget.NewAccordionItem("Advanced",
		widget.NewForm(&widget.FormItem{Text: "Gateway URL", Widget: f.gateway, HintText: "leave as is unless told otherwise"})))

	f.owner = newOwnerForm(f)
	f.nodesBox = container.NewVBox()
	for _, n := range f.base.Nodes {
		f.addNode(nodeFromConfig(f, n))
	}
	f.detect = widget.NewButtonWithIcon("Detect local servers", theme.SearchIcon(), f.runDetect)
	if u.opts.Detect == nil {
		f.detect.Hide()
	}
	f.detectNote = widget.NewLabel("")
	f.detectNote.Wrapping = fyne.TextWrapWord
	f.detectNote.Hide() // until detection runs: an empty line would leave a gap
	addNode := widget.NewButtonWithIcon("Add node", theme.ContentAddIcon(), func() {
		f.addNode(newNodeForm(f, "", "http://localhost:11434", config.APIModeOllama, nil))
		f.revalidate()
	})

	f.problem = widget.NewLabel("")
	f.problem.Importance = widget.DangerImportance
	f.problem.Wrapping = fyne.TextWrapWord
	f.warnings = widget.NewLabel("")
	f.warnings.Importance = widget.WarningImportance
	f.warnings.Wrapping = fyne.TextWrapWord
	f.save = widget.NewButtonWithIcon("Save and go online", theme.ConfirmIcon(), f.submit)
	f.save.Importance = widget.HighImportance
	f.cancel = widget.NewButton("Cancel", u.showDashboard)
	if u.cfg == nil {
		f.cancel.Hide()
	}

	title := "Set up PIN Client"
	intro := "Serve your local LLMs on the PIN network. Enter your operator credentials, check the nodes found on this machine, then go online."
	if u.cfg != nil {
		title, intro = "Settings", "Changes take effect when saved: the node drains running jobs, then reconnects with the new settings."
	}
	if f.attached != "" {
		intro = "These settings are in " + f.path + ", which the " + f.attached + " reads. Saving writes that file and asks the " +
			f.attached + " to reload it: running jobs finish, then it reconnects with the new settings."
		f.save.SetText("Save and reload")
	}
	heading := widget.NewLabel(title)
	heading.TextStyle = fyne.TextStyle{Bold: true}
	heading.SizeName = theme.SizeNameHeadingText
	introLabel := widget.NewLabel(intro)
	introLabel.Wrapping = fyne.TextWrapWord
	nodesHeading := widget.NewLabel("Nodes")
	nodesHeading.TextStyle = fyne.TextStyle{Bold: true}

	body := container.NewVBox(
		heading, introLabel, f.demoOffer(), account, advanced, f.owner.box, widget.NewSeparator(),
		container.NewBorder(nil, nil, nodesHeading, f.detect), f.detectNote,
		f.nodesBox, container.NewHBox(addNode),
	)
	footer := container.NewVBox(widget.NewSeparator(), f.problem, f.warnings,
		container.NewHBox(layout.NewSpacer(), f.cancel, f.save))
	f.content = container.NewBorder(nil, footer, nil, nil, wheelScroll(container.NewPadded(body)))
}

// entry makes a single-line entry whose inline error is the loader's error for path.
func (f *setupForm) entry(path, text, placeholder string) *widget.Entry {
	e := widget.NewEntry()
	e.SetText(text)
	e.SetPlaceHolder(placeholder)
	f.hook(e, path)
	return e
}

// hook wires e to revalidate the form on change and to show the error for path.
func (f *setupForm) hook(e *widget.Entry, path string) {
	f.hookFn(e, func() string { return path })
}

func (f *setupForm) hookFn(e *widget.Entry, path func() string) {
	e.Validator = func(string) error { return f.errorAt(path()) }
	e.OnChanged = func(string) { f.revalidate() }
}

// errorAt is the first current problem that concerns path (or an element of it), in
// the form's words, else nil.
func (f *setupForm) errorAt(path string) error {
	for _, fe := range f.errs {
		if fe.Path == path || strings.HasPrefix(fe.Path, path+"[") {
			return errors.New(fieldFix(fe.Path, fe.Msg))
		}
	}
	return nil
}

// check builds the config the form describes and validates it as the loader would,
// returning every problem (in the order of the form: the secret after the client ID).
// The returned config never holds the secret.
func (f *setupForm) check() (*config.Config, []string, []*config.FieldError) {
	cfg := f.base
	cfg.ClientID = strings.TrimSpace(f.clientID.Text)
	cfg.ServerURL = strings.TrimSpace(f.gateway.Text)
	cfg.Nodes = make([]config.Node, 0, len(f.nodes))
	var typeErrs []*config.FieldError // numbers that do not parse
	for i, nf := range f.nodes {
		n, errs := nf.node(i)
		typeErrs = append(typeErrs, errs...)
		cfg.Nodes = append(cfg.Nodes, n)
	}
	if f.owner != nil {
		if err := f.owner.apply(&cfg); err != nil {
			var fe *config.FieldError
			if !errors.As(err, &fe) {
				fe = &config.FieldError{Path: "schedule", Msg: err.Error()}
			}
			typeErrs = append(typeErrs, fe)
		}
	}
	// The typed secret goes through the loader's checks, then is dropped.
	cfg.APISecret = strings.TrimSpace(f.secret.Text)
	warnings, loaderErrs := cfg.Problems()
	var errs []*config.FieldError
	for _, fe := range loaderErrs {
		if !slices.ContainsFunc(typeErrs, func(t *config.FieldError) bool { return t.Path == fe.Path }) {
			errs = append(errs, fe)
		}
	}
	errs = append(errs, typeErrs...)
	if cfg.APISecret == "" && !f.haveSecret && f.base.APISecret == "" {
		at := 0
		if len(errs) > 0 && errs[0].Path == "clientId" {
			at = 1
		}
		errs = slices.Insert(errs, at, &config.FieldError{Path: "apiSecret", Msg: "missing; paste your API secret (pin_sk_…) from the PIN dashboard"})
	}
	cfg.APISecret = ""
	return &cfg, warnings, errs
}

// revalidate re-checks the form and shows the result: every problem listed under the
// form and each on its field, the warnings, and Save enabled only when valid. UI
// thread.
func (f *setupForm) revalidate() {
	_, warnings, errs := f.check()
	f.setErrs(errs)
	for i, w := range warnings {
		warnings[i] = formWarning(w)
	}
	f.warnings.SetText(strings.Join(warnings, "\n"))
	if len(warnings) == 0 {
		f.warnings.Hide()
	} else {
		f.warnings.Show()
	}
	setEnabled(f.save, f.err == nil && !f.saving)
}

// setErrs shows errs: listed under the form and each next to its field.
func (f *setupForm) setErrs(errs []*config.FieldError) {
	f.errs = errs
	f.err = nil
	lines := make([]string, len(errs))
	for i, fe := range errs {
		lines[i] = formProblem(fe)
	}
	if len(errs) > 0 {
		f.err = errors.New(strings.Join(problemList(lines), "\n"))
	}
	f.showProblem(f.err)
	setImportance(f.problem, problemImportance(errs))
	for _, e := range f.entries() {
		e.Validate()
	}
	for i, n := range f.nodes {
		n.showSelectErr(n.apiModeErr, fmt.Sprintf("nodes[%d].apiMode", i))
		n.showSelectErr(n.regionErr, fmt.Sprintf("nodes[%d].region", i))
	}
}

func (f *setupForm) showProblem(err error) {
	if err == nil {
		f.problem.SetText("")
		f.problem.Hide()
		return
	}
	f.problem.SetText(err.Error())
	setImportance(f.problem, widget.DangerImportance)
	f.problem.Show()
}

func (f *setupForm) entries() []*widget.Entry {
	es := []*widget.Entry{f.clientID, f.secret, f.gateway}
	if f.owner != nil {
		es = append(es, f.owner.entries()...)
	}
	for _, n := range f.nodes {
		es = append(es, n.alias, n.url, n.capacity, n.price, n.ttsURL, n.ttsModels)
	}
	return es
}

// submit stores the secret in the keyring (and reads it back), writes config.json, and
// restarts the engine online with the new settings. UI thread; the keyring and the file
// are handled off it.
func (f *setupForm) submit() {
	cfg, _, errs := f.check()
	f.setErrs(errs)
	if f.err != nil {
		return
	}
	typed := strings.TrimSpace(f.secret.Text)
	fromFile := f.base.APISecret
	u := f.u
	path := f.path
	// An attached engine whose own config file holds its secret keeps it there: it may
	// run where the keyring is out of reach (a system service).
	keep := path != u.configPath() && typed == "" && fromFile != "" && cfg.ClientID == f.base.ClientID
	if keep {
		cfg.APISecret = fromFile
	}
	f.saving = true
	f.save.Disable()
	go func() {
		var (
			secret protocol.Secret
			source string
			err    error
		)
		if keep {
			secret, source = protocol.NewSecret(fromFile), "apiSecret in "+path
		} else {
			secret, source, err = u.storeSecret(cfg.ClientID, typed, fromFile)
		}
		if err == nil {
			err = u.saveConfig(cfg, path, keep)
		}
		u.do(func() {
			f.saving = false
			f.save.Enable()
			if err != nil {
				f.showSaveErr(err)
				return
			}
			f.secret.SetText("")
			u.configured(cfg, secret, source, path)
		})
	}()
}

// runDetect looks for local servers off the UI thread and adds a card for each new one.
func (f *setupForm) runDetect() {
	detect := f.u.opts.Detect
	if detect == nil {
		return
	}
	f.detect.Disable()
	f.detectNote.SetText("Looking for local LLM servers…")
	f.detectNote.Show()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), detectTimeout)
		found := detect(ctx)
		cancel()
		f.u.do(func() {
			f.detect.Enable()
			f.addFound(found)
		})
	}()
}

func (f *setupForm) addFound(found []Found) {
	var added, names []string
	for _, s := range found {
		names = append(names, s.Kind+" at "+s.URL)
		if f.hasURL(s.URL) {
			continue
		}
		nf := newNodeForm(f, s.Kind, s.URL, s.APIMode, s.Models)
		if s.Capacity > 0 {
			nf.capacity.SetText(strconv.Itoa(s.Capacity))
		}
		if s.Note != "" {
			nf.result.SetText("! " + s.Note)
		}
		f.addNode(nf)
		added = append(added, s.Kind)
	}
	switch {
	case len(found) == 0:
		f.detectNote.SetText("No local LLM server found. Start Ollama, LM Studio, vLLM or llama.cpp and detect again, or add a node by hand.")
	case len(added) == 0:
		f.detectNote.SetText("Found " + strings.Join(names, ", ") + " (already listed).")
	default:
		f.detectNote.SetText("Found " + strings.Join(names, ", ") + ". Check each node, then save.")
	}
	f.revalidate()
}

func (f *setupForm) hasURL(u string) bool {
	for _, n := range f.nodes {
		if strings.TrimRight(strings.TrimSpace(n.url.Text), "/") == strings.TrimRight(u, "/") {
			return true
		}
	}
	return false
}

func (f *setupForm) addNode(n *nodeForm) {
	f.nodes = append(f.nodes, n)
	f.nodesBox.Add(n.card)
	f.retitle()
}

func (f *setupForm) removeNode(n *nodeForm) {
	for i, x := range f.nodes {
		if x == n {
			f.nodes = append(f.nodes[:i], f.nodes[i+1:]...)
			break
		}
	}
	f.nodesBox.Remove(n.card)
	f.retitle()
	f.revalidate()
}

// retitle numbers the cards the way the problems name them ("Node 1 › Region").
func (f *setupForm) retitle() {
	for i, n := range f.nodes {
		title := fmt.Sprintf("Node %d", i+1)
		if n.kind != "" {
			title += " — " + n.kind
		}
		n.card.SetTitle(title)
	}
}

func (f *setupForm) index(n *nodeForm) int {
	for i, x := range f.nodes {
		if x == n {
			return i
		}
	}
	return -1
}

// uniqueAlias derives a free alias from a server kind: "LM Studio" → "lm-studio",
// then "lm-studio-2"...
func (f *setupForm) uniqueAlias(kind string) string {
	base := strings.ToLower(strings.Join(strings.Fields(kind), "-"))
	if base == "" {
		base = "node"
	}
	taken := map[string]bool{}
	for _, n := range f.nodes {
		taken[strings.TrimSpace(n.alias.Text)] = true
	}
	alias := base
	for i := 2; taken[alias]; i++ {
		alias = base + "-" + strconv.Itoa(i)
	}
	return alias
}

func newNodeForm(f *setupForm, kind, url, apiMode string, models []string) *nodeForm {
	n := config.Node{
		Alias: f.uniqueAlias(kind), InferenceURI: url, APIMode: apiMode, Capacity: 1,
		Region: f.region.Region,
	}
	nf := nodeFromConfig(f, n)
	nf.kind = kind
	nf.setModels(models)
	if n.Region != "" {
		nf.guessed = true
		nf.regionItem.HintText = f.region.hint()
	}
	return nf
}

func nodeFromConfig(f *setupForm, c config.Node) *nodeForm {
	n := &nodeForm{f: f}
	path := func(key string) func() string {
		return func() string { return fmt.Sprintf("nodes[%d].%s", f.index(n), key) }
	}
	mk := func(key, text, placeholder string) *widget.Entry {
		e := widget.NewEntry()
		e.SetText(text)
		e.SetPlaceHolder(placeholder)
		f.hookFn(e, path(key))
		return e
	}
	n.alias = mk("alias", c.Alias, "e.g. GPU-1")
	n.url = mk("inferenceUri", c.InferenceURI, "http://localhost:11434")
	n.apiMode = widget.NewSelect([]string{config.APIModeOllama, config.APIModeOpenAI}, func(string) { f.revalidate() })
	n.apiMode.Selected = c.APIMode
	n.region = widget.NewSelect(config.Regions, func(string) {
		n.regionChanged()
		f.revalidate()
	})
	n.region.PlaceHolder = "(choose the region)"
	n.region.Selected = c.Region
	n.apiModeErr, n.regionErr = selectErrLabel(), selectErrLabel()
	n.regionItem = &widget.FormItem{Text: "Region", Widget: container.NewVBox(n.region, n.regionErr)}
	capText := ""
	if c.Capacity != 0 {
		capText = strconv.Itoa(c.Capacity)
	}
	n.capacity = mk("capacity", capText, "1")
	priceText := ""
	if c.PricePerThousandTokens != nil {
		priceText = strconv.FormatFloat(*c.PricePerThousandTokens, 'f', -1, 64)
	}
	n.price = mk("pricePerThousandTokens", priceText, strconv.FormatFloat(config.DefaultPrice, 'f', -1, 64))
	n.interview = widget.NewSelect(nil, nil)
	n.interview.PlaceHolder = gatewayChoice
	n.ttsURL = mk("ttsUri", c.TTSURI, "optional, e.g. http://127.0.0.1:8880")
	n.ttsModels = mk("ttsModels", strings.Join(c.TTSModels, ", "), "optional, comma-separated")
	n.setModels(nil)
	if c.InterviewModel != "" {
		n.interview.SetOptions(append(n.interview.Options, c.InterviewModel))
		n.interview.Selected = c.InterviewModel
	}

	n.result = widget.NewLabel("")
	n.result.Wrapping = fyne.TextWrapWord
	n.test = widget.NewButtonWithIcon("Test", theme.MediaPlayIcon(), n.runTest)
	if f.u.opts.Probe == nil {
		n.test.Hide()
	}
	remove := widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { f.removeNode(n) })

	n.form = widget.NewForm(
		widget.NewFormItem("Alias", n.alias),
		&widget.FormItem{Text: "Backend URL", Widget: n.url},
		widget.NewFormItem("API", container.NewVBox(n.apiMode, n.apiModeErr)),
		n.regionItem,
		&widget.FormItem{Text: "Capacity", Widget: n.capacity, HintText: "requests served at once"},
		&widget.FormItem{Text: "Price", Widget: n.price, HintText: "USD per 1K tokens"},
		&widget.FormItem{Text: "Interview model", Widget: n.interview, HintText: "the model the gateway's quality interview uses"},
		&widget.FormItem{Text: "TTS URL", Widget: n.ttsURL},
		&widget.FormItem{Text: "TTS models", Widget: n.ttsModels},
	)
	n.card = widget.NewCard("", "", container.NewVBox(n.form,
		container.NewBorder(nil, nil, n.test, remove, n.result)))
	return n
}

// setModels offers models as interview models, keeping the current choice.
func (n *nodeForm) setModels(models []string) {
	opts := append([]string{gatewayChoice}, models...)
	cur := n.interview.Selected
	n.interview.SetOptions(opts)
	if cur != "" && cur != gatewayChoice {
		found := false
		for _, m := range models {
			found = found || m == cur
		}
		if !found {
			n.interview.SetOptions(append(opts, cur))
		}
		n.interview.SetSelected(cur)
	}
}

// node is the config.Node the card describes, and the fields whose text does not parse
// (named by their config path, as the loader names its problems).
func (n *nodeForm) node(i int) (config.Node, []*config.FieldError) {
	p := fmt.Sprintf("nodes[%d]", i)
	c := config.Node{
		Alias:        strings.TrimSpace(n.alias.Text),
		InferenceURI: strings.TrimSpace(n.url.Text),
		APIMode:      n.apiMode.Selected,
		Region:       n.region.Selected,
		TTSURI:       strings.TrimSpace(n.ttsURL.Text),
	}
	var errs []*config.FieldError
	if m := n.interview.Selected; m != gatewayChoice {
		c.InterviewModel = m
	}
	if s := strings.TrimSpace(n.capacity.Text); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, &config.FieldError{Path: p + ".capacity", Msg: fmt.Sprintf("%q is not a whole number; set how many requests the node serves at once, 1 or more", s)})
			v = 1
		}
		c.Capacity = v
	}
	if s := strings.TrimSpace(n.price.Text); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			errs = append(errs, &config.FieldError{Path: p + ".pricePerThousandTokens", Msg: fmt.Sprintf("%q is not a number; use a price in USD per 1K tokens, e.g. %g", s, config.DefaultPrice)})
		} else {
			c.PricePerThousandTokens = &v
		}
	}
	for _, m := range strings.Split(n.ttsModels.Text, ",") {
		if m = strings.TrimSpace(m); m != "" {
			c.TTSModels = append(c.TTSModels, m)
		}
	}
	return c, errs
}

// showProbe shows a Test result and offers the models found as interview models.
func (n *nodeForm) showProbe(res Probe) {
	if len(res.Models) > 0 {
		n.setModels(res.Models)
	}
	models := fmt.Sprintf("%d model(s): %s", len(res.Models), strings.Join(res.Models, ", "))
	switch {
	case res.Blocking:
		n.result.SetText("✗ " + strings.Join(res.Problems, "\n"))
	case len(res.Problems) > 0:
		n.result.SetText("✓ " + models + "\n! " + strings.Join(res.Problems, "\n! "))
	default:
		n.result.SetText("✓ ready, " + models)
	}
}

// runTest asks the node's backend for its models off the UI thread and shows the
// result; the models become the interview-model choices.
func (n *nodeForm) runTest() {
	u := n.f.u
	i := n.f.index(n)
	c, errs := n.node(i)
	var err error
	switch {
	case len(errs) > 0:
		err = errors.New(formProblem(errs[0]))
	case c.InferenceURI == "":
		err = errors.New("set the backend URL first")
	}
	if err != nil {
		n.result.SetText("✗ " + err.Error())
		return
	}
	n.test.Disable()
	n.result.SetText("Testing " + c.InferenceURI + "…")
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		res := u.opts.Probe(ctx, c)
		cancel()
		u.do(func() {
			n.test.Enable()
			n.showProbe(res)
		})
	}()
}
