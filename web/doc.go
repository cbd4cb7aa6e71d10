// Package web renders kindlab's pages: templ components over plain view
// structs and the step markdown with its Run and Copy buttons. The learner's
// pages are the catalog, the provisioning progress, the lab page and the
// completion screen; the instructor's are sign-in, workshops, join, the live
// dashboard (a progress grid per lab) and the read-only terminal; and there is
// an error page. Every URL of kindlab is built in urls.go. The package calls no
// services: the server fills the views and the browser code in package static
// keeps them live.
package web
