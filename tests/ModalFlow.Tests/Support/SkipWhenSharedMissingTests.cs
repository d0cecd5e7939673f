using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ModalFlow.Tests.Support;

/// <summary>The message filter behind <see cref="SharedFactAttribute"/>: only missing shared material becomes a skip.</summary>
public class SkipWhenSharedMissingTests
{
    /// <summary>A test object as xunit builds it (messages read its case, method, class, collection and assembly).</summary>
    private static XunitTest NamedTest(string name)
    {
        var assembly = new TestAssembly(Reflector.Wrap(typeof(SkipWhenSharedMissingTests).Assembly));
        var testClass = new TestClass(new TestCollection(assembly, null, "shared"), Reflector.Wrap(typeof(SkipWhenSharedMissingTests)));
        var method = new TestMethod(testClass, Reflector.Wrap(typeof(SkipWhenSharedMissingTests).GetMethod(nameof(Missing_Shared_Material_Anywhere_In_The_Chain_Becomes_A_Skip_Naming_It_And_Other_Failures_Stay))!));
        var testCase = new XunitTestCase(new NullMessageSink(), TestMethodDisplay.ClassAndMethod, TestMethodDisplayOptions.None, method);
        return new XunitTest(testCase, name);
    }

    private sealed class RecordingBus : IMessageBus
    {
        public List<IMessageSinkMessage> Messages { get; } = [];
        public bool QueueMessage(IMessageSinkMessage message)
        {
            Messages.Add(message);
            return true;
        }
        public void Dispose()
        {
        }
    }

    [Fact]
    public void Missing_Shared_Material_Anywhere_In_The_Chain_Becomes_A_Skip_Naming_It_And_Other_Failures_Stay()
    {
        var inner = new RecordingBus();
        var bus = new SkipWhenSharedMissingBus(inner);
        // As a class fixture or a static initialiser reports it: the missing file is the inner exception.
        var wrapped = new TypeInitializationException("Fixtures", new SharedDataMissingException("fixtures/tiny-llava-next/config.json"));
        bus.QueueMessage(new TestFailed(NamedTest("a"), 0, "", wrapped));
        bus.QueueMessage(new TestFailed(NamedTest("b"), 0, "", new InvalidOperationException("a real failure")));
        var passed = new TestPassed(NamedTest("c"), 0, "");
        bus.QueueMessage(passed);

        Assert.Equal(1, bus.Skipped);
        var skipped = Assert.IsType<TestSkipped>(inner.Messages[0]);
        Assert.Equal("a", skipped.Test.DisplayName);
        Assert.StartsWith("needs ../shared/fixtures/tiny-llava-next/config.json (not in tests/fixtures", skipped.Reason);
        var failed = Assert.IsType<TestFailed>(inner.Messages[1]);
        Assert.Equal("a real failure", failed.Messages[0]);
        Assert.Same(passed, inner.Messages[2]);
    }
}
