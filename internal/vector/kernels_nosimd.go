//go:build !(goexperiment.simd && amd64)

package vector

// Without GOEXPERIMENT=simd (or off amd64) only the portable kernels exist.

func bestKernels() kernelSet { return portableKernels }

func availableKernels() []kernelSet { return []kernelSet{portableKernels} }
