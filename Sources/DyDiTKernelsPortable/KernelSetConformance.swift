// Shared by every ISA build (symlinked into DyDiTKernelsAVX2 and DyDiTKernelsAVX512): the
// build's `ISAKernels` is the dispatcher's table entry. The compiler checks that each build
// provides the whole `KernelSet` surface.
import DyDiTKernelABI

extension ISAKernels: KernelSet {}
