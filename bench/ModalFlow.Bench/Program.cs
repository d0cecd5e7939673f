// Benchmarks live in the library (ModalFlow.Benchmarks) so that `modalflow bench` can run them too;
// this project is the standalone entry point for profiling runs.
Console.Error.WriteLine("usage: use `modalflow bench knockout [--json]` (this host is reserved for profiling)");
return 2;
