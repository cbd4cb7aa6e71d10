//go:build race

package server

// raceDetector: the tests run with -race, which slows every goroutine many times
// over; load tests run in the build without it (make unit runs both).
const raceDetector = true
