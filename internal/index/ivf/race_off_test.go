//go:build !race

package ivf

// recallRows is the size of the recall fixtures (see race_on_test.go).
const recallRows = 20000
