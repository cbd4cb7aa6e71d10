// Package web renders kindlab's pages: templ components over plain view
// structs (catalog, provisioning progress, lab page, completion, errors) and
// the step markdown with its Run and Copy buttons. It calls no services: the
// server fills the views and the browser code in package static keeps them live.
package web
