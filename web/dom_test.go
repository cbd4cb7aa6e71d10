package web

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

// doc is a rendered page, parsed, for looking elements up by data-testid.
type doc struct {
	t    *testing.T
	root *html.Node
	src  string
}

// render renders c and parses the result.
func render(t *testing.T, c templ.Component) doc {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("Render: %v", err)
	}
	root, err := html.Parse(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("html.Parse: %v", err)
	}
	return doc{t: t, root: root, src: buf.String()}
}

// parseFragment parses an HTML fragment such as RenderMarkdown's output.
func parseFragment(t *testing.T, s string) doc {
	t.Helper()
	root, err := html.Parse(strings.NewReader("<!DOCTYPE html><html><body>" + s + "</body></html>"))
	if err != nil {
		t.Fatalf("html.Parse: %v", err)
	}
	return doc{t: t, root: root, src: s}
}

// all returns the elements for which match is true, in document order.
func (d doc) all(match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(d.root)
	return out
}

// byTestID returns the element with data-testid id, or nil.
func (d doc) byTestID(id string) *html.Node {
	els := d.all(func(n *html.Node) bool { v, ok := attr(n, "data-testid"); return ok && v == id })
	if len(els) > 1 {
		d.t.Errorf("%d elements with data-testid=%q; want at most 1", len(els), id)
	}
	if len(els) == 0 {
		return nil
	}
	return els[0]
}

// must returns the element with data-testid id, failing the test without it.
func (d doc) must(id string) *html.Node {
	d.t.Helper()
	n := d.byTestID(id)
	if n == nil {
		d.t.Fatalf("no element with data-testid=%q in:\n%s", id, d.src)
	}
	return n
}

// testIDsWithPrefix lists the data-testid values starting with prefix, in order.
func (d doc) testIDsWithPrefix(prefix string) []string {
	var ids []string
	for _, n := range d.all(func(n *html.Node) bool { v, _ := attr(n, "data-testid"); return strings.HasPrefix(v, prefix) }) {
		v, _ := attr(n, "data-testid")
		ids = append(ids, v)
	}
	return ids
}

// tags returns the elements named tag.
func (d doc) tags(tag string) []*html.Node {
	return d.all(func(n *html.Node) bool { return n.Data == tag })
}

func attr(n *html.Node, key string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrOr(n *html.Node, key string) string {
	v, _ := attr(n, key)
	return v
}

func hidden(n *html.Node) bool {
	_, ok := attr(n, "hidden")
	return ok
}

// text is the text content of n with runs of white space collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// rawText is the text content of n as is (for code blocks).
func rawText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// inputNamed returns the <input name=name> inside n.
func inputNamed(n *html.Node, name string) *html.Node {
	var found *html.Node
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		if found != nil {
			return
		}
		if c.Type == html.ElementNode && c.Data == "input" && attrOr(c, "name") == name {
			found = c
			return
		}
		for k := c.FirstChild; k != nil; k = k.NextSibling {
			walk(k)
		}
	}
	walk(n)
	return found
}

type htmlNode = html.Node

// goesTo is where a button takes the browser: its form's action, and for a
// step button the step it posts ("/s/1/step step=2"); a link's href otherwise.
func goesTo(n *html.Node) string {
	if n.Data != "button" {
		return attrOr(n, "href")
	}
	for f := n.Parent; f != nil; f = f.Parent {
		if f.Type == html.ElementNode && f.Data == "form" {
			return attrOr(f, "action") + " " + attrOr(n, "name") + "=" + attrOr(n, "value")
		}
	}
	return ""
}
