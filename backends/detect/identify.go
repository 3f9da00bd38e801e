package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/backends"
)

// Identification probes, all sent at once. Each is specific to one product except
// /v1/models, which every OpenAI-compatible server answers.
const (
	pOllamaVersion = "/api/version"              // Ollama: {"version"}
	pOllamaTags    = "/api/tags"                 // Ollama (also emulated by llama.cpp, KoboldCpp)
	pLMStudioV0    = "/api/v0/models"            // LM Studio: data[] with state, max_context_length
	pLMStudioV1    = "/api/v1/models"            // LM Studio 0.4+: models[] with key, loaded_instances
	pLlamaProps    = "/props"                    // llama.cpp server: total_slots, default_generation_settings
	pVersion       = "/version"                  // vLLM: {"version"}
	pTGIInfo       = "/info"                     // TGI: model_id, max_total_tokens, version
	pKoboldVersion = "/api/extra/version"        // KoboldCpp: {"result":"KoboldCpp","version"}
	pLocalAI       = "/.well-known/localai.json" // LocalAI: version, endpoints
	pOpenAIModels  = "/v1/models"                // any OpenAI-compatible server
	pKoboldCtx     = "/api/extra/true_max_context_length"
	pKoboldModel   = "/api/v1/model"
	pLocalAISystem = "/system"
	pOllamaPS      = "/api/ps"
	pOllamaShow    = "/api/show"
)

var identifyPaths = []string{
	pOllamaVersion, pOllamaTags, pLMStudioV0, pLMStudioV1, pLlamaProps, pVersion,
	pTGIInfo, pKoboldVersion, pLocalAI, pOpenAIModels,
}

// Answer shapes, from each product's public API documentation. Only the fields used.
type (
	versionJSON struct {
		Version string `json:"version"`
	}
	ollamaTagsJSON struct {
		Models []struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	ollamaPSJSON struct {
		Models []struct {
			Name          string `json:"name"`
			Model         string `json:"model"`
			Size          int64  `json:"size"`
			SizeVRAM      int64  `json:"size_vram"`
			ContextLength int    `json:"context_length"`
		} `json:"models"`
	}
	ollamaShowJSON struct {
		Capabilities []string       `json:"capabilities"`
		ModelInfo    map[string]any `json:"model_info"`
	}
	lmsV0JSON struct {
		Data []struct {
			ID                  string   `json:"id"`
			Type                string   `json:"type"` // llm, vlm, embeddings
			State               string   `json:"state"`
			MaxContextLength    int      `json:"max_context_length"`
			LoadedContextLength int      `json:"loaded_context_length"`
			Capabilities        []string `json:"capabilities"` // e.g. "tool_use", where given
		} `json:"data"`
	}
	lmsV1JSON struct {
		Models []struct {
			Type             string `json:"type"` // llm, embedding
			Key              string `json:"key"`
			MaxContextLength int    `json:"max_context_length"`
			LoadedInstances  []struct {
				ID     string `json:"id"`
				Config struct {
					ContextLength int `json:"context_length"`
				} `json:"config"`
			} `json:"loaded_instances"`
			Capabilities *struct {
				TrainedForToolUse *bool `json:"trained_for_tool_use"`
			} `json:"capabilities"`
		} `json:"models"`
	}
	llamaPropsJSON struct {
		DefaultGenerationSettings *struct {
			NCtx int `json:"n_ctx"`
		} `json:"default_generation_settings"`
		TotalSlots       int             `json:"total_slots"`
		ModelPath        string          `json:"model_path"`
		ModelAlias       string          `json:"model_alias"`
		BuildInfo        string          `json:"build_info"`
		ChatTemplate     string          `json:"chat_template"`
		ChatTemplateCaps map[string]bool `json:"chat_template_caps"`
	}
	openAIModelsJSON struct {
		Data []struct {
			ID          string          `json:"id"`
			OwnedBy     string          `json:"owned_by"`
			MaxModelLen int             `json:"max_model_len"` // vLLM
			Status      json.RawMessage `json:"status"`        // llama.cpp router: {"value":"loaded"}
			Meta        *struct {
				NCtx      int `json:"n_ctx"`
				NCtxTrain int `json:"n_ctx_train"`
			} `json:"meta"` // llama.cpp
		} `json:"data"`
	}
	tgiInfoJSON struct {
		ModelID        string `json:"model_id"`
		Version        string `json:"version"`
		MaxTotalTokens int    `json:"max_total_tokens"`
		MaxInputTokens int    `json:"max_input_tokens"`
		MaxInputLength int    `json:"max_input_length"` // older TGI
	}
	koboldVersionJSON struct {
		Result  string `json:"result"`
		Version string `json:"version"`
	}
	localAIWellKnownJSON struct {
		Version   string         `json:"version"`
		Endpoints map[string]any `json:"endpoints"`
	}
	localAISystemJSON struct {
		LoadedModels []struct {
			ID string `json:"id"`
		} `json:"loaded_models"`
	}
)

// identify probes base and says what answers there. It never returns later than ctx.
func (p *prober) identify(ctx context.Context, base *url.URL) Server {
	s := Server{URL: base.String(), Kind: KindUnknown, Parallel: 1}

	replies := make(map[string]reply, len(identifyPaths))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, pth := range identifyPaths {
		wg.Go(func() {
			r := p.do(ctx, base, pth, nil)
			mu.Lock()
			replies[pth] = r
			mu.Unlock()
		})
	}
	wg.Wait()

	var (
		kobold   koboldVersionJSON
		lmsV1    lmsV1JSON
		lmsV0    lmsV0JSON
		props    llamaPropsJSON
		ollamaV  versionJSON
		tags     ollamaTagsJSON
		tgi      tgiInfoJSON
		localAI  localAIWellKnownJSON
		version  versionJSON
		oaModels openAIModelsJSON
	)
	hasOA := replies[pOpenAIModels].decode(&oaModels) && oaModels.Data != nil
	hasTags := replies[pOllamaTags].decode(&tags) && tags.Models != nil
	port := base.Port()

	// Most specific first: KoboldCpp and llama.cpp also emulate Ollama's /api/tags.
	switch {
	case replies[pKoboldVersion].decode(&kobold) && strings.Contains(strings.ToLower(kobold.Result), "kobold"):
		s.Kind, s.Version = KindKoboldCpp, kobold.Version
		p.koboldDetails(ctx, base, &s, oaModels, hasOA)

	case replies[pLMStudioV1].decode(&lmsV1) && lmsV1.Models != nil && lmsV1Keyed(lmsV1):
		s.Kind = KindLMStudio
		s.Models = lmStudioV1Models(lmsV1)
		mergeLMStudioV0(&s, replies[pLMStudioV0])

	case replies[pLMStudioV0].decode(&lmsV0) && lmsV0.Data != nil:
		s.Kind = KindLMStudio
		s.Models = lmStudioV0Models(lmsV0)

	case replies[pLlamaProps].decode(&props) && (props.DefaultGenerationSettings != nil || props.TotalSlots > 0):
		s.Kind, s.Version = KindLlamaCpp, props.BuildInfo
		llamaCppDetails(&s, props, oaModels)

	case replies[pOllamaVersion].decode(&ollamaV) && ollamaV.Version != "":
		s.Kind, s.Version = KindOllama, ollamaV.Version
		if !hasTags {
			//lint:ignore ST1005 the message starts with the product's name
			s.Err = fmt.Errorf("Ollama at %s answered its version but not its model list (/api/tags): %w", s.URL, replyErr(replies[pOllamaTags]))
			break
		}
		p.ollamaDetails(ctx, base, &s, tags)

	case replies[pTGIInfo].decode(&tgi) && tgi.ModelID != "" && (tgi.MaxTotalTokens > 0 || tgi.MaxInputTokens > 0 || tgi.MaxInputLength > 0):
		s.Kind, s.Version = KindTGI, tgi.Version
		s.Models = []Model{{Name: tgi.ModelID, Loaded: Yes, ContextLength: tgi.MaxTotalTokens, MaxContextLength: tgi.MaxTotalTokens}}

	case replies[pLocalAI].decode(&localAI) && localAI.Version != "" && localAI.Endpoints != nil:
		s.Kind, s.Version = KindLocalAI, localAI.Version
		s.Models = openAIModelList(oaModels)
		p.localAIDetails(ctx, base, &s)

	// vLLM always adds max_model_len to /v1/models; with --api-key only /version stays open.
	case hasOA && vllmOwned(oaModels),
		!hasOA && replies[pOpenAIModels].denied() && replies[pVersion].decode(&version) && version.Version != "":
		s.Kind = KindVLLM
		replies[pVersion].decode(&version)
		s.Version = version.Version
		s.Models = openAIModelList(oaModels)

	case hasOA && (port == "1337" || ownedBy(oaModels, "jan")):
		s.Kind = KindJan
		s.Models = openAIModelList(oaModels)

	case hasOA:
		s.Kind = KindOpenAI
		s.Models = openAIModelList(oaModels)

	case hasTags: // answers like Ollama without saying its version: treat it as Ollama
		s.Kind = KindOllama
		p.ollamaDetails(ctx, base, &s, tags)
	}

	if s.Kind != KindUnknown && s.Err == nil && replies[pOpenAIModels].denied() && !hasOA && s.Kind.APIMode() == backends.ModeOpenAI && len(s.Models) == 0 {
		s.Err = fmt.Errorf("%s at %s %w (its model list answered %d)", s.Kind.Name(), s.URL, ErrAuthRequired, replies[pOpenAIModels].status)
	}
	if s.Kind == KindUnknown {
		s.Err = p.unidentified(base, replies, &s)
	}
	s.APIMode = s.Kind.APIMode()
	return s
}

// unidentified explains why nothing was recognised, and guesses the kind from the port
// when the server demanded a token.
func (p *prober) unidentified(base *url.URL, replies map[string]reply, s *Server) error {
	answered, denied := false, 0
	var lastErr error
	for _, pth := range identifyPaths {
		r := replies[pth]
		switch {
		case r.err == nil:
			answered = true
			if r.denied() {
				denied = r.status
			}
		case lastErr == nil || errors.Is(r.err, context.DeadlineExceeded):
			lastErr = r.err
		}
	}
	switch {
	case denied != 0:
		s.Kind = portHint(base.Port())
		name := s.Kind.Name()
		if s.Kind == KindUnknown {
			name = "the server"
		}
		return fmt.Errorf("%s at %s %w (it answered %d)", name, s.URL, ErrAuthRequired, denied)
	case !answered && (errors.Is(lastErr, context.DeadlineExceeded) || errors.Is(lastErr, context.Canceled)):
		return &noAnswerError{url: s.URL, within: p.timeout, cause: lastErr}
	case !answered: // it closed the connection or spoke something other than HTTP
		return fmt.Errorf("%s %w (not HTTP: %w)", s.URL, ErrNotLLMServer, lastErr)
	}
	return fmt.Errorf("%s %w", s.URL, ErrNotLLMServer)
}

func replyErr(r reply) error {
	if r.err != nil {
		return r.err
	}
	if r.status == 0 {
		return errors.New("no answer")
	}
	return fmt.Errorf("HTTP %d", r.status)
}

// ollamaDetails fills models from /api/tags, then what is loaded (/api/ps) and per model
// capabilities and context length (/api/show), and Parallel from OLLAMA_NUM_PARALLEL.
func (p *prober) ollamaDetails(ctx context.Context, base *url.URL, s *Server, tags ollamaTagsJSON) {
	for _, m := range tags.Models {
		name := m.Name
		if name == "" {
			name = m.Model
		}
		if name != "" {
			s.Models = append(s.Models, Model{Name: name})
		}
	}
	if isLoopback(base.Hostname()) {
		if n, err := strconv.Atoi(strings.TrimSpace(p.getenv("OLLAMA_NUM_PARALLEL"))); err == nil && n > 0 {
			s.Parallel = n
		}
	}

	var wg sync.WaitGroup
	var ps ollamaPSJSON
	psOK := false
	wg.Go(func() { psOK = p.do(ctx, base, pOllamaPS, nil).decode(&ps) })

	// /api/show per model (perServer at a time, see do); a server with very many models
	// gets the first ones described, the rest stay Unknown.
	const maxShow = 32
	shows := make([]ollamaShowJSON, min(len(s.Models), maxShow))
	showOK := make([]bool, len(shows))
	for i := range shows {
		wg.Go(func() {
			body, _ := json.Marshal(map[string]string{"model": s.Models[i].Name})
			showOK[i] = p.do(ctx, base, pOllamaShow, body).decode(&shows[i])
		})
	}
	wg.Wait()

	for i := range shows {
		if !showOK[i] {
			continue
		}
		m, sh := &s.Models[i], shows[i]
		if sh.Capabilities != nil {
			m.Tools = TriOf(hasString(sh.Capabilities, "tools"))
			m.Reasoning = ReasoningNone
			if hasString(sh.Capabilities, "thinking") {
				m.Reasoning = ReasoningThinking
			}
			m.Embedding = hasString(sh.Capabilities, "embedding") && !hasString(sh.Capabilities, "completion")
		}
		for k, v := range sh.ModelInfo {
			if strings.HasSuffix(k, ".context_length") {
				if f, ok := v.(float64); ok && f > 0 {
					m.MaxContextLength = int(f)
				}
			}
		}
		m.ContextLength = m.MaxContextLength
	}
	if !psOK {
		return
	}
	for i := range s.Models {
		s.Models[i].Loaded = No
	}
	for _, r := range ps.Models {
		name := r.Name
		if name == "" {
			name = r.Model
		}
		i := modelIndex(s.Models, name)
		if i < 0 { // loaded but not listed (a race with ollama rm): still report it
			s.Models = append(s.Models, Model{Name: name})
			i = len(s.Models) - 1
		}
		m := &s.Models[i]
		m.Loaded = Yes
		m.Size, m.VRAM = r.Size, r.SizeVRAM
		m.OnCPU = r.SizeVRAM == 0 && r.Size > 0
		if r.ContextLength > 0 {
			m.ContextLength = r.ContextLength
		}
	}
}

func lmsV1Keyed(v lmsV1JSON) bool {
	for _, m := range v.Models {
		if m.Key == "" {
			return false
		}
	}
	return true
}

func lmStudioV1Models(v lmsV1JSON) []Model {
	out := []Model{}
	for _, m := range v.Models {
		mm := Model{
			Name:             m.Key,
			Loaded:           TriOf(len(m.LoadedInstances) > 0),
			MaxContextLength: m.MaxContextLength,
			ContextLength:    m.MaxContextLength,
			Embedding:        strings.HasPrefix(m.Type, "embedding"),
		}
		if len(m.LoadedInstances) > 0 && m.LoadedInstances[0].Config.ContextLength > 0 {
			mm.ContextLength = m.LoadedInstances[0].Config.ContextLength
		}
		if m.Capabilities != nil && m.Capabilities.TrainedForToolUse != nil {
			mm.Tools = TriOf(*m.Capabilities.TrainedForToolUse)
		}
		out = append(out, mm)
	}
	return out
}

// mergeLMStudioV0 takes what only v0 tells (nothing today beyond v1, but older 0.4
// builds lack v1 capabilities) without overriding v1.
func mergeLMStudioV0(s *Server, r reply) {
	var v0 lmsV0JSON
	if !r.decode(&v0) {
		return
	}
	for _, m := range lmStudioV0Models(v0) {
		if i := modelIndex(s.Models, m.Name); i >= 0 && s.Models[i].Tools == Unknown {
			s.Models[i].Tools = m.Tools
		}
	}
}

func lmStudioV0Models(v lmsV0JSON) []Model {
	out := []Model{}
	for _, m := range v.Data {
		mm := Model{
			Name:             m.ID,
			MaxContextLength: m.MaxContextLength,
			ContextLength:    m.MaxContextLength,
			Embedding:        strings.HasPrefix(m.Type, "embedding"),
		}
		switch m.State {
		case "loaded":
			mm.Loaded = Yes
		case "not-loaded":
			mm.Loaded = No
		}
		if mm.Loaded == Yes && m.LoadedContextLength > 0 {
			mm.ContextLength = m.LoadedContextLength
		}
		if hasString(m.Capabilities, "tool_use") {
			mm.Tools = Yes
		}
		out = append(out, mm)
	}
	return out
}

// llamaCppDetails: the model list from /v1/models (router mode lists several, with a
// status), context and tool support from /props, Parallel from total_slots.
func llamaCppDetails(s *Server, props llamaPropsJSON, oa openAIModelsJSON) {
	if props.TotalSlots > 0 {
		s.Parallel = props.TotalSlots
	}
	s.Models = openAIModelList(oa)
	if len(s.Models) == 0 {
		name := props.ModelAlias
		if name == "" && props.ModelPath != "" {
			name = path.Base(strings.ReplaceAll(props.ModelPath, `\`, "/"))
		}
		if name != "" {
			s.Models = []Model{{Name: name, Loaded: Yes}}
		}
	}
	tools := Unknown
	if v, ok := props.ChatTemplateCaps["supports_tools"]; ok {
		tools = TriOf(v)
	} else if props.ChatTemplate != "" {
		tools = TriOf(strings.Contains(props.ChatTemplate, "tools"))
	}
	reasoning := ""
	if props.ChatTemplate != "" {
		reasoning = ReasoningNone
		if strings.Contains(props.ChatTemplate, "<think>") || strings.Contains(props.ChatTemplate, "reasoning_content") {
			reasoning = ReasoningContent
		}
	}
	for k, v := range props.ChatTemplateCaps {
		if v && strings.Contains(k, "reasoning") {
			reasoning = ReasoningContent
		}
	}
	nctx := 0
	if props.DefaultGenerationSettings != nil {
		nctx = props.DefaultGenerationSettings.NCtx
	}
	for i := range s.Models {
		m := &s.Models[i]
		if m.Loaded == Unknown {
			m.Loaded = Yes // a plain llama-server serves the one model it loaded
		}
		if m.Loaded == Yes {
			m.Tools, m.Reasoning = tools, reasoning
			if nctx > 0 && (len(s.Models) == 1 || m.ContextLength == 0) {
				m.ContextLength = nctx
			}
		}
	}
}

// openAIModelList reads /v1/models, with the extras vLLM (max_model_len) and llama.cpp
// (meta.n_ctx, meta.n_ctx_train, router status) add.
func openAIModelList(oa openAIModelsJSON) []Model {
	out := []Model{}
	for _, d := range oa.Data {
		if d.ID == "" {
			continue
		}
		m := Model{Name: d.ID}
		if d.MaxModelLen > 0 {
			m.ContextLength, m.MaxContextLength, m.Loaded = d.MaxModelLen, d.MaxModelLen, Yes
		}
		if d.Meta != nil {
			m.MaxContextLength = d.Meta.NCtxTrain
			m.ContextLength = d.Meta.NCtx
			if m.ContextLength == 0 {
				m.ContextLength = m.MaxContextLength
			}
		}
		switch statusValue(d.Status) {
		case "loaded":
			m.Loaded = Yes
		case "unloaded", "loading", "sleeping":
			m.Loaded = No
		}
		out = append(out, m)
	}
	return out
}

// statusValue reads a status given as "loaded" or {"value":"loaded"}.
func statusValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Value
	}
	return ""
}

func vllmOwned(oa openAIModelsJSON) bool {
	for _, d := range oa.Data {
		if d.OwnedBy == "vllm" || d.MaxModelLen > 0 {
			return true
		}
	}
	return false
}

func ownedBy(oa openAIModelsJSON, who string) bool {
	for _, d := range oa.Data {
		if strings.Contains(strings.ToLower(d.OwnedBy), who) {
			return true
		}
	}
	return false
}

// koboldDetails: models from /v1/models or /api/v1/model; the context from
// /api/extra/true_max_context_length.
func (p *prober) koboldDetails(ctx context.Context, base *url.URL, s *Server, oa openAIModelsJSON, hasOA bool) {
	var wg sync.WaitGroup
	var model struct {
		Result string `json:"result"`
	}
	var ctxLen struct {
		Value int `json:"value"`
	}
	modelOK, ctxOK := false, false
	if !hasOA || len(oa.Data) == 0 {
		wg.Go(func() { modelOK = p.do(ctx, base, pKoboldModel, nil).decode(&model) })
	}
	wg.Go(func() { ctxOK = p.do(ctx, base, pKoboldCtx, nil).decode(&ctxLen) })
	wg.Wait()

	s.Models = openAIModelList(oa)
	if len(s.Models) == 0 && modelOK && model.Result != "" {
		s.Models = []Model{{Name: model.Result}}
	}
	for i := range s.Models {
		s.Models[i].Loaded = Yes
		if ctxOK && ctxLen.Value > 0 {
			s.Models[i].ContextLength, s.Models[i].MaxContextLength = ctxLen.Value, ctxLen.Value
		}
	}
}

// localAIDetails marks which models LocalAI has loaded (/system).
func (p *prober) localAIDetails(ctx context.Context, base *url.URL, s *Server) {
	var sys localAISystemJSON
	if !p.do(ctx, base, pLocalAISystem, nil).decode(&sys) || sys.LoadedModels == nil {
		return
	}
	for i := range s.Models {
		s.Models[i].Loaded = No
	}
	for _, lm := range sys.LoadedModels {
		if i := modelIndex(s.Models, lm.ID); i >= 0 {
			s.Models[i].Loaded = Yes
		}
	}
}

func modelIndex(ms []Model, name string) int {
	for i := range ms {
		if ms[i].Name == name {
			return i
		}
	}
	return -1
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// noAnswerError is ErrNoAnswer for a listener that stayed silent until the deadline. Its
// text leaves out the Go request details; errors.Is sees ErrNoAnswer and the context
// error.
type noAnswerError struct {
	url    string
	within time.Duration
	cause  error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("%s %v within %s (still starting or loading a model, or hung)", e.url, ErrNoAnswer, timeoutText(e.within))
}

func (e *noAnswerError) Unwrap() []error { return []error{ErrNoAnswer, e.cause} }

// timeoutText renders a duration for messages: "1.2s", "800ms".
func timeoutText(d time.Duration) string {
	return d.Round(10 * time.Millisecond).String()
}
