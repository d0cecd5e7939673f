using Xunit;
using Xunit.Sdk;

namespace ModalFlow.Tests.Support;

/// <summary>
/// A fact that reads test material through <see cref="SharedData"/>. It runs wherever that material is — from the
/// in-repo subset (tests/fixtures) on any clone, from ../shared beside it — and is reported as skipped, naming the
/// file, only when it needs something a clone without ../shared lacks (<see cref="SharedDataMissingException"/>).
/// xunit 2 has no dynamic skip, and a static Skip could not tell an in-repo case from a shared-only one; so the test
/// runs and that one exception becomes a skip (<see cref="SkipWhenSharedMissingTestCase"/>). With ../shared present
/// nothing skips: the exception is never thrown, and .ci/run fails on any skip.
/// </summary>
[XunitTestCaseDiscoverer("ModalFlow.Tests.Support.SharedFactDiscoverer", "ModalFlow.Tests")]
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class SharedFactAttribute : FactAttribute;

/// <summary>
/// A theory over test material, as <see cref="SharedFactAttribute"/>, row by row: rows whose case tests/fixtures holds
/// run on any clone, the others skip without ../shared. Data that cannot even be listed without ../shared skips as one
/// test.
/// </summary>
[XunitTestCaseDiscoverer("ModalFlow.Tests.Support.SharedTheoryDiscoverer", "ModalFlow.Tests")]
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class SharedTheoryAttribute : TheoryAttribute;
