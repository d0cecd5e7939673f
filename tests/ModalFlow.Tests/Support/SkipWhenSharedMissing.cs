using System.ComponentModel;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ModalFlow.Tests.Support;

/// <summary>Discovers <see cref="SharedFactAttribute"/> tests as <see cref="SkipWhenSharedMissingTestCase"/>.</summary>
public sealed class SharedFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        new SkipWhenSharedMissingTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
}

/// <summary>
/// Discovers <see cref="SharedTheoryAttribute"/> rows as <see cref="SkipWhenSharedMissingTestCase"/>; a theory whose data
/// cannot be listed at discovery (e.g. it reads ../shared) becomes one <see cref="SkipWhenSharedMissingTheoryTestCase"/>.
/// </summary>
public sealed class SharedTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    protected override IEnumerable<IXunitTestCase> CreateTestCasesForDataRow(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod,
        IAttributeInfo theoryAttribute, object[] dataRow) =>
        [new SkipWhenSharedMissingTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, dataRow)];

    protected override IEnumerable<IXunitTestCase> CreateTestCasesForTheory(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod,
        IAttributeInfo theoryAttribute) =>
        [new SkipWhenSharedMissingTheoryTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
}

/// <summary>A fact or theory row whose <see cref="SharedDataMissingException"/> is reported as a skip.</summary>
public sealed class SkipWhenSharedMissingTestCase : XunitTestCase
{
    [EditorBrowsable(EditorBrowsableState.Never)]
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public SkipWhenSharedMissingTestCase()
    {
    }

    public SkipWhenSharedMissingTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay,
        TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod, object[]? testMethodArguments = null)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod, testMethodArguments)
    {
    }

    public override Task<RunSummary> RunAsync(IMessageSink diagnosticMessageSink, IMessageBus messageBus, object[] constructorArguments,
        ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource) =>
        SkipWhenSharedMissingBus.RunAsync(messageBus, bus => base.RunAsync(diagnosticMessageSink, bus, constructorArguments, aggregator, cancellationTokenSource));
}

/// <summary>A theory run as one test case (data listed at run time) whose <see cref="SharedDataMissingException"/> is a skip.</summary>
public sealed class SkipWhenSharedMissingTheoryTestCase : XunitTheoryTestCase
{
    [EditorBrowsable(EditorBrowsableState.Never)]
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public SkipWhenSharedMissingTheoryTestCase()
    {
    }

    public SkipWhenSharedMissingTheoryTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay,
        TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    public override Task<RunSummary> RunAsync(IMessageSink diagnosticMessageSink, IMessageBus messageBus, object[] constructorArguments,
        ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource) =>
        SkipWhenSharedMissingBus.RunAsync(messageBus, bus => base.RunAsync(diagnosticMessageSink, bus, constructorArguments, aggregator, cancellationTokenSource));
}

/// <summary>
/// Passes every message on, except a test failure caused by <see cref="SharedDataMissingException"/> anywhere in its
/// exception chain (thrown by the test, its data, a class fixture or a static initialiser), which it turns into a skip
/// whose reason is that exception's message. The run summary is corrected to match.
/// </summary>
internal sealed class SkipWhenSharedMissingBus(IMessageBus inner) : IMessageBus
{
    private static readonly string MissingType = typeof(SharedDataMissingException).FullName!;

    public int Skipped { get; private set; }

    public static async Task<RunSummary> RunAsync(IMessageBus messageBus, Func<IMessageBus, Task<RunSummary>> run)
    {
        var bus = new SkipWhenSharedMissingBus(messageBus);
        var summary = await run(bus);
        summary.Failed -= bus.Skipped;
        summary.Skipped += bus.Skipped;
        return summary;
    }

    public bool QueueMessage(IMessageSinkMessage message)
    {
        if (message is ITestFailed failed && Array.IndexOf(failed.ExceptionTypes, MissingType) is var i and >= 0)
        {
            Skipped++;
            return inner.QueueMessage(new TestSkipped(failed.Test, failed.Messages[i]));
        }
        return inner.QueueMessage(message);
    }

    /// <summary>The inner bus belongs to the caller.</summary>
    public void Dispose()
    {
    }
}
