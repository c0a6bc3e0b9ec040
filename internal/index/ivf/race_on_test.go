//go:build race

package ivf

// recallRows is the size of the recall fixtures: the race detector slows
// index builds (HNSW graphs above all) about tenfold, so its runs use fewer
// rows; the recall thresholds hold at both sizes.
const recallRows = 6000
