/* oneMKL inside libtorch_cpu.so asks this to decide whether the CPU is Intel; on AMD it answers 0 and
   MKL runs its generic (2x slower fp32) kernels. Loaded RTLD_GLOBAL before the first torch call, this
   definition interposes and MKL picks its AVX-512 path. On Intel CPUs it changes nothing. */
int mkl_serv_intel_cpu_true(void) { return 1; }
