using System.Runtime.InteropServices;

namespace ModalFlow.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM (Slurm's preemption notice) as a cancellation request for a long command: the first
/// one cancels <see cref="Token"/>, so the command stops after the sample in flight and can say how far it got; a
/// second one ends the process at once (finished samples are safe either way). Disposing restores the defaults.
/// </summary>
public sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _count;

    private StopSignal(TextWriter err, CancellationToken outer)
    {
        _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try
            {
                _registrations.Add(PosixSignalRegistration.Create(signal, c =>
                {
                    if (Interlocked.Increment(ref _count) > 1) return;   // second signal: default action, the process ends
                    c.Cancel = true;
                    Received = c.Signal;
                    err.WriteLine($"{(c.Signal == PosixSignal.SIGINT ? "Ctrl-C" : c.Signal.ToString())}: stopping after the sample in flight " +
                        "(again to stop at once; finished samples are kept either way) ...");
                    _cts.Cancel();
                }));
            }
            catch (PlatformNotSupportedException) { }
        }
    }

    public CancellationToken Token => _cts.Token;

    /// <summary>The signal that asked to stop, or null (cancelled by the caller's token, or not at all).</summary>
    public PosixSignal? Received { get; private set; }

    /// <summary>The shell's convention: 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM).</summary>
    public int ExitCode => Received == PosixSignal.SIGTERM ? 143 : CliContext.ExitCancelled;

    public static StopSignal Install(TextWriter err, CancellationToken outer) => new(err, outer);

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cts.Dispose();
    }
}
