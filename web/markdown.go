package web

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"html/template"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	gmtext "github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"github.com/kindlab/kindlab/labs"
)

// ErrRunnableMismatch means the markdown renderer and the lab parser disagree
// on a step's runnable blocks, so the Run buttons would not match
// labs.Step.Runnable. It points at a fence the lab parser cannot see (e.g. one
// inside a block quote); the lab needs fixing.
var ErrRunnableMismatch = errors.New("web: runnable blocks differ from the lab parser's")

// md is goldmark with GitHub Flavored Markdown. It is configuration, never
// changed after construction, and safe for concurrent use (goldmark sets its
// parser and renderer up once, under a sync.Once). Raw HTML is not passed
// through (goldmark's default): an author's <script> never reaches a page, and
// links with javascript: or similar URLs lose their destination.
var md = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(
		renderer.WithNodeRenderers(util.Prioritized(codeRenderer{}, 100)),
	),
)

// Attributes the AST walk in RenderMarkdown sets on code blocks for codeRenderer.
var (
	attrRun       = []byte("kindlab-run")       // 1-based index of a runnable block
	attrInterrupt = []byte("kindlab-interrupt") // present on run-interrupt blocks
	attrCommand   = []byte("kindlab-command")   // the command sent by Run
	attrCopy      = []byte("kindlab-copy")      // 1-based index of the copy button
)

// RenderMarkdown renders a step's markdown body. Fences marked `bash run` and
// `bash run-interrupt` get a Run button, numbered run-1, run-2, ... in the
// order of step.Runnable; every code block gets a Copy button. It fails with
// ErrRunnableMismatch when its runnable blocks are not step.Runnable's.
func RenderMarkdown(step labs.Step) (template.HTML, error) {
	src := []byte(step.Body)
	doc := md.Parser().Parse(gmtext.NewReader(src))

	runs, copies := 0, 0
	var mismatch error
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.FencedCodeBlock:
			copies++
			n.SetAttribute(attrCopy, strconv.Itoa(copies))
			interrupt, ok := runnableInfo(n, src)
			if !ok {
				break
			}
			runs++
			cmd := strings.Trim(string(codeLines(n, src)), "\n")
			if runs > len(step.Runnable) {
				mismatch = fmt.Errorf("step %s: block %d at the fence %q: %w", step.ID, runs, cmd, ErrRunnableMismatch)
				break
			}
			if want := step.Runnable[runs-1]; want.Command != cmd || want.Interrupt != interrupt {
				mismatch = fmt.Errorf("step %s: block %d reads %q here and %q (line %d) in the lab: %w",
					step.ID, runs, cmd, want.Command, want.Line, ErrRunnableMismatch)
			}
			n.SetAttribute(attrRun, strconv.Itoa(runs))
			n.SetAttribute(attrCommand, cmd)
			if interrupt {
				n.SetAttribute(attrInterrupt, "true")
			}
		case *ast.CodeBlock:
			copies++
			n.SetAttribute(attrCopy, strconv.Itoa(copies))
		case *ast.Link:
			if isExternal(n.Destination) {
				n.SetAttribute([]byte("target"), []byte("_blank"))
				n.SetAttribute([]byte("rel"), []byte("noopener noreferrer"))
			}
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		return "", fmt.Errorf("step %s: %w", step.ID, err)
	}
	if mismatch == nil && runs != len(step.Runnable) {
		mismatch = fmt.Errorf("step %s: %d runnable blocks here, %d in the lab: %w", step.ID, runs, len(step.Runnable), ErrRunnableMismatch)
	}
	if mismatch != nil {
		return "", mismatch
	}
	var buf bytes.Buffer
	if err := md.Renderer().Render(&buf, src, doc); err != nil {
		return "", fmt.Errorf("render step %s: %w", step.ID, err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // goldmark escapes; raw HTML is omitted
}

// renderInline renders a short markdown text such as a hint.
func renderInline(s string) (template.HTML, error) {
	var buf bytes.Buffer
	if err := md.Convert([]byte(s), &buf); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil //nolint:gosec // as in RenderMarkdown
}

// runnableInfo reports whether a fence is runnable (its info string is
// `bash run` or `bash run-interrupt`, as the lab parser reads it).
func runnableInfo(n *ast.FencedCodeBlock, src []byte) (interrupt, ok bool) {
	if n.Info == nil {
		return false, false
	}
	words := strings.Fields(string(n.Info.Segment.Value(src)))
	if len(words) < 2 || words[0] != "bash" {
		return false, false
	}
	switch words[1] {
	case "run":
		return false, true
	case "run-interrupt":
		return true, true
	}
	return false, false
}

func codeLines(n ast.Node, src []byte) []byte {
	var b bytes.Buffer
	lines := n.Lines()
	for i := range lines.Len() {
		seg := lines.At(i)
		b.Write(seg.Value(src))
	}
	return b.Bytes()
}

func isExternal(dest []byte) bool {
	d := strings.ToLower(string(dest))
	return strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://")
}

// codeRenderer renders code blocks as kindlab's code boxes with Copy and Run
// buttons (see static/app.js, which wires the buttons by their data-* attributes).
type codeRenderer struct{}

func (codeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindFencedCodeBlock, renderCode)
	reg.Register(ast.KindCodeBlock, renderCode)
}

func renderCode(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	lang := ""
	if f, ok := n.(*ast.FencedCodeBlock); ok {
		lang = sanitizeLang(string(f.Language(src)))
	}
	attr := func(name []byte) string {
		v, ok := n.AttributeString(string(name))
		if !ok {
			return ""
		}
		switch v := v.(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	run, copyN := attr(attrRun), attr(attrCopy)
	interrupt := attr(attrInterrupt) == "true"

	class := "codeblock"
	if run != "" {
		class += " runnable"
	}
	fmt.Fprintf(w, `<div class="%s"`, class)
	if run != "" {
		fmt.Fprintf(w, ` data-testid="runnable-%s"`, run)
	}
	w.WriteString(">\n<div class=\"codeblock-bar\">")
	label := lang
	switch {
	case run != "" && interrupt:
		label = "stops what's running, then runs"
	case run != "":
		label = "run it in the terminal"
	}
	if label != "" {
		fmt.Fprintf(w, `<span class="codeblock-label">%s</span>`, html.EscapeString(label))
	}
	w.WriteString(`<span class="codeblock-actions">`)
	fmt.Fprintf(w, `<button type="button" class="btn btn-small btn-ghost" data-copy data-testid="copy-%s" title="Copy to clipboard">Copy</button>`, copyN)
	if run != "" {
		text := "▶ Run"
		title := "Type this command into the terminal and press Enter"
		if interrupt {
			text = "■ Stop &amp; run"
			title = "Press Ctrl-C in the terminal first, then run this command"
		}
		fmt.Fprintf(w, `<button type="button" class="btn btn-small btn-run" data-run data-testid="run-%s" data-command="%s" data-interrupt="%t" title="%s">%s</button>`,
			run, html.EscapeString(attr(attrCommand)), interrupt, title, text)
	}
	w.WriteString("</span></div>\n<pre><code")
	if lang != "" {
		fmt.Fprintf(w, ` class="language-%s"`, lang)
	}
	w.WriteString(">")
	w.WriteString(html.EscapeString(string(codeLines(n, src))))
	w.WriteString("</code></pre>\n</div>\n")
	return ast.WalkSkipChildren, nil
}

// sanitizeLang keeps a fence's language safe for a class name.
func sanitizeLang(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '+':
			return r
		}
		return -1
	}, s)
}

var _ renderer.NodeRenderer = codeRenderer{}
