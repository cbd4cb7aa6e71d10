//go:build !race

package workshop

const raceDetector = false
