package detect

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints servers for people: one block per server with its kind, version,
// URL, apiMode and parallelism, then a row per model. "?" marks what the server did not
// tell. It prints nothing for an empty list.
func WriteTable(w io.Writer, servers []Server) error {
	var b strings.Builder
	for i, s := range servers {
		if i > 0 {
			b.WriteByte('\n')
		}
		if s.Kind == KindUnknown && s.Err != nil {
			fmt.Fprintf(&b, "%v\n", s.Err) // the error names the URL
			continue
		}
		title := s.Kind.Name()
		if s.Version != "" {
			title += " " + s.Version
		}
		fmt.Fprintf(&b, "%s at %s  apiMode %q  parallel %d\n", title, s.URL, s.APIMode, s.Parallel)
		if s.Err != nil {
			fmt.Fprintf(&b, "  problem: %v\n", s.Err)
		}
		if len(s.Models) == 0 {
			if s.Err == nil {
				b.WriteString("  no models\n")
			}
			continue
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  MODEL\tLOADED\tCONTEXT\tTOOLS\tREASONING\tNOTE")
		for _, m := range s.Models {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", m.Name, triCell(m.Loaded), contextCell(m), triCell(m.Tools), orQ(m.Reasoning), modelNote(m))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	// tabwriter pads empty last cells; drop the trailing blanks.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

func triCell(t Tri) string {
	if t == Unknown {
		return "?"
	}
	return t.String()
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func contextCell(m Model) string {
	switch {
	case m.ContextLength == 0 && m.MaxContextLength == 0:
		return "?"
	case m.ContextLength == 0:
		return strconv.Itoa(m.MaxContextLength)
	case m.MaxContextLength > m.ContextLength:
		return strconv.Itoa(m.ContextLength) + "/" + strconv.Itoa(m.MaxContextLength)
	}
	return strconv.Itoa(m.ContextLength)
}

func modelNote(m Model) string {
	var notes []string
	if m.Embedding {
		notes = append(notes, "embedding only")
	}
	switch {
	case m.OnCPU:
		notes = append(notes, "on CPU")
	case m.VRAM > 0 && m.Size > m.VRAM:
		notes = append(notes, fmt.Sprintf("%d%% on GPU", m.VRAM*100/m.Size))
	}
	return strings.Join(notes, ", ")
}
