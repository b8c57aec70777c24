// Package amx keeps ONNX Runtime off Intel AMX.
//
// On AMX-capable Xeons, ONNX Runtime 1.24.1's fused int8 convolution
// (QLinearConv through MLAS's AMX kernels) silently returns wrong numbers for
// some layer shapes, e.g. 24 output channels with 1 to 3 input channels, or 30
// with 1 to 8; the upstream report (microsoft/onnxruntime issue 26324) was
// closed unfixed. Linux hands AMX tile state to a process only after it asks
// with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), and MLAS asks for it
// itself when it first sets up its kernels; when the request fails, MLAS uses
// its AVX-512 VNNI / AVX2 int8 kernels, which are correct.
//
// Block makes that request fail: it installs a seccomp-bpf filter on every
// thread of the process (SECCOMP_FILTER_FLAG_TSYNC) that answers
// arch_prctl(ARCH_REQ_XCOMP_PERM, ...) with EPERM and allows everything else.
// It must run before the ONNX Runtime library is loaded (runtime/ort.Init does
// it); a process that was already granted AMX keeps it, which Block reports
// as ErrAlreadyPermitted. A seccomp filter cannot be removed, so tests that
// compare guarded and unguarded runs use a subprocess for each.
//
// Side effect: Block sets PR_SET_NO_NEW_PRIVS, which the kernel requires for an
// unprivileged filter; programs the process starts afterwards cannot gain
// privileges through setuid bits. The daemon starts none that need to.
//
// On other architectures, and on CPUs without AMX, Block does nothing and says
// so through State.
package amx
