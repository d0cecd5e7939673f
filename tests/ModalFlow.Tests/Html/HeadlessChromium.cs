using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace ModalFlow.Tests.Html;

/// <summary>
/// Debian's headless Chromium driven over the DevTools protocol (a WebSocket, System.Net.WebSockets; no driver, no npm):
/// one browser and one page per instance. It records every console message, uncaught exception, log entry and network
/// request of the page, evaluates script in it, clicks with real mouse events (Input.dispatchMouseEvent at an element's
/// centre) and takes screenshots. Started with the flags this machine needs (no sandbox as root, no GPU, no background
/// networking: the network is closed) and a new empty profile.
/// </summary>
public sealed class HeadlessChromium : IDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private int _nextId;
    private TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Console errors, uncaught exceptions and error log entries, as text.</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>Every console message (type: text).</summary>
    public ConcurrentQueue<string> Console { get; } = new();

    /// <summary>URLs the page requested (the report must need none but data: URIs and itself).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>The browser: $CHROMIUM, else /usr/bin/chromium, chromium or chromium-browser on PATH; null when none.</summary>
    public static string? Find()
    {
        var env = Environment.GetEnvironmentVariable("CHROMIUM");
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
        if (File.Exists("/usr/bin/chromium")) return "/usr/bin/chromium";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in new[] { "chromium", "chromium-browser" })
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    }

    /// <summary>True under CI (the CI variable set): there the browser tests must run, never skip.</summary>
    public static bool InCi => Environment.GetEnvironmentVariable("CI") is { Length: > 0 } ci && ci != "false" && ci != "0";

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
        _reader = Task.CompletedTask;
    }

    private HeadlessChromium(Process process, string profile, Uri page) : this(process, profile)
    {
        _socket.Options.KeepAliveInterval = TimeSpan.Zero;
        _socket.ConnectAsync(page, CancellationToken.None).Wait(TimeSpan.FromSeconds(30));
        if (_socket.State != WebSocketState.Open) throw new InvalidOperationException($"could not connect to Chromium's page at {page}");
        _reader = Task.Run(ReadLoop);
    }

    /// <summary>Starts the browser with a <paramref name="width"/> x <paramref name="height"/> window and connects to its page.</summary>
    public static HeadlessChromium Launch(int width = 1280, int height = 900)
    {
        var exe = Find() ?? throw new InvalidOperationException("chromium not found; install Debian's chromium (apt-get install -y chromium)");
        var profile = Directory.CreateTempSubdirectory("mf-chromium-").FullName;
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--remote-debugging-port=0", "--user-data-dir=" + profile, $"--window-size={width},{height}", "about:blank",
        })
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("chromium did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // Chromium writes the port it chose to <profile>/DevToolsActivePort.
            var portFile = Path.Combine(profile, "DevToolsActivePort");
            var deadline = Stopwatch.StartNew();
            int port = 0;
            while (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                if (process.HasExited) throw new InvalidOperationException($"chromium exited at start (code {process.ExitCode})");
                if (File.Exists(portFile) && File.ReadAllLines(portFile) is [var first, ..] && int.TryParse(first, out port)) break;
                Thread.Sleep(100);
            }
            if (port == 0) throw new InvalidOperationException("chromium did not open its DevTools port within 60 s");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            Uri? page = null;
            while (page is null && deadline.Elapsed < TimeSpan.FromSeconds(90))
            {
                var list = JsonNode.Parse(http.GetStringAsync($"http://127.0.0.1:{port}/json/list").Result)!.AsArray();
                var target = list.FirstOrDefault(t => (string?)t!["type"] == "page");
                if (target is not null) page = new Uri((string)target["webSocketDebuggerUrl"]!);
                else Thread.Sleep(100);
            }
            if (page is null) throw new InvalidOperationException("chromium has no page target");
            var browser = new HeadlessChromium(process, profile, page);
            browser.Send("Runtime.enable");
            browser.Send("Log.enable");
            browser.Send("Page.enable");
            browser.Send("Network.enable");
            browser.Send("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
            return browser;
        }
        catch
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.Dispose();
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Opens <paramref name="url"/> and waits for its load event.</summary>
    public void Navigate(string url)
    {
        _loaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var result = Send("Page.navigate", new JsonObject { ["url"] = url });
        if (result["errorText"] is JsonNode error) throw new InvalidOperationException($"navigation to {url} failed: {error}");
        if (!_loaded.Task.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException($"{url} did not finish loading within 60 s");
    }

    /// <summary>Evaluates a script expression in the page; its value as JSON (promises awaited).</summary>
    public JsonNode? Evaluate(string expression)
    {
        var result = Send("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result["exceptionDetails"] is JsonNode ex) throw new InvalidOperationException($"script failed: {expression}\n{ex.ToJsonString()}");
        return result["result"]?["value"];
    }

    public T Evaluate<T>(string expression) => Evaluate(expression) is { } v ? v.GetValue<T>() : throw new InvalidOperationException($"no value from {expression}");

    /// <summary>Scrolls the first element matching <paramref name="selector"/> into view and clicks its centre with the mouse.</summary>
    public void Click(string selector)
    {
        var box = Evaluate($$"""
            (async () => { const e = document.querySelector({{JsonSerializer.Serialize(selector)}}); if (!e) return null;
              const frame = () => new Promise(ok => requestAnimationFrame(() => ok()));
              let r = null;
              for (let i = 0; i < 120; i++) {
                e.scrollIntoView({ block: 'center', behavior: 'instant' });
                await frame(); await frame();
                const now = e.getBoundingClientRect();
                if (r && now.top === r.top && now.left === r.left) break;
                r = now;
              }
              const x = r.left + r.width / 2, y = r.top + r.height / 2, top = document.elementFromPoint(x, y);
              return { x, y, w: r.width, h: r.height, hit: !!top && (top === e || e.contains(top) || top.contains(e) || (top.closest('label') && top.closest('label').contains(e))) }; })()
            """) ?? throw new InvalidOperationException($"no element matches {selector}");
        double x = (double)box["x"]!, y = (double)box["y"]!;
        if ((double)box["w"]! <= 0 || (double)box["h"]! <= 0) throw new InvalidOperationException($"{selector} is not visible (size 0)");
        // Scrolled instantly and measured until it stays put (a smooth scroll the page started may still be running, and
        // the centre would move under the mouse); the element must be the one under its centre, or the click would land
        // on something else.
        if (!(bool)box["hit"]!) throw new InvalidOperationException($"{selector} is covered by another element at ({x:F0}, {y:F0})");
        foreach (var type in new[] { "mouseMoved", "mousePressed", "mouseReleased" })
        {
            Send("Input.dispatchMouseEvent", new JsonObject
            {
                ["type"] = type, ["x"] = x, ["y"] = y, ["button"] = type == "mouseMoved" ? "none" : "left", ["clickCount"] = type == "mouseMoved" ? 0 : 1,
            });
        }
    }

    /// <summary>A PNG of the page: the viewport, or the whole page height when <paramref name="fullPage"/>.</summary>
    public byte[] Screenshot(bool fullPage = false)
    {
        var args = new JsonObject { ["format"] = "png" };
        if (fullPage) args["captureBeyondViewport"] = true;
        if (fullPage)
        {
            // From the top: a sticky header would otherwise be drawn where the viewport happened to be.
            Evaluate("(async () => { window.scrollTo({ top: 0, behavior: 'instant' }); await new Promise(ok => requestAnimationFrame(() => requestAnimationFrame(ok))); })()");
            var metrics = Send("Page.getLayoutMetrics");
            var size = metrics["cssContentSize"] ?? metrics["contentSize"];
            args["clip"] = new JsonObject { ["x"] = 0, ["y"] = 0, ["width"] = (double)size!["width"]!, ["height"] = Math.Min(16000, (double)size["height"]!), ["scale"] = 1 };
        }
        var result = Send("Page.captureScreenshot", args);
        return Convert.FromBase64String((string)result["data"]!);
    }

    /// <summary>Sends one protocol command and waits for its answer.</summary>
    public JsonObject Send(string method, JsonObject? parameters = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        var done = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = done;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        lock (_socket) _socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None).Wait();
        if (!done.Task.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException($"Chromium did not answer {method} within 60 s");
        var reply = done.Task.Result;
        if (reply["error"] is JsonNode error) throw new InvalidOperationException($"{method} failed: {error.ToJsonString()}");
        return reply["result"]?.AsObject() ?? new JsonObject();
    }

    private async Task ReadLoop()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var r = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                var node = JsonNode.Parse(message.ToArray())!.AsObject();
                message.SetLength(0);
                if (node["id"] is JsonNode idNode && _pending.TryRemove((int)idNode, out var waiter)) waiter.TrySetResult(node);
                else if (node["method"] is JsonNode method) OnEvent((string)method!, node["params"]?.AsObject());
            }
        }
        catch (OperationCanceledException) { }
        catch (WebSocketException) { }
        foreach (var waiter in _pending.Values) waiter.TrySetException(new InvalidOperationException("the connection to Chromium closed"));
    }

    private void OnEvent(string method, JsonObject? p)
    {
        switch (method)
        {
            case "Page.loadEventFired":
                _loaded.TrySetResult();
                break;
            case "Runtime.consoleAPICalled":
                {
                    var type = (string?)p?["type"] ?? "";
                    var text = string.Join(' ', p?["args"]?.AsArray().Select(a => a?["value"]?.ToString() ?? a?["description"]?.ToString() ?? "") ?? []);
                    Console.Enqueue($"{type}: {text}");
                    if (type is "error" or "assert") Errors.Enqueue($"console.{type}: {text}");
                    break;
                }
            case "Runtime.exceptionThrown":
                {
                    var d = p?["exceptionDetails"];
                    Errors.Enqueue($"uncaught: {d?["exception"]?["description"] ?? d?["text"]} (line {d?["lineNumber"]}, column {d?["columnNumber"]})");
                    break;
                }
            case "Log.entryAdded":
                {
                    var e = p?["entry"];
                    if ((string?)e?["level"] == "error") Errors.Enqueue($"log: {e?["text"]} {e?["url"]}");
                    break;
                }
            case "Network.requestWillBeSent":
                Requests.Enqueue((string?)p?["request"]?["url"] ?? "");
                break;
        }
    }

    public void Dispose()
    {
        try { Send("Browser.close"); } catch (Exception e) when (e is InvalidOperationException or TimeoutException or AggregateException or WebSocketException) { }
        _stop.Cancel();
        try { _reader.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _socket.Dispose();
        if (!_process.WaitForExit(5000))
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            _process.WaitForExit(5000);
        }
        _process.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        _stop.Dispose();
    }
}

/// <summary>
/// A test that needs headless Chromium: skipped, with the reason shown, only when no browser is installed AND the run is
/// not CI; under CI (CI=true, which .ci/run sets and where it installs Debian's chromium) it always runs.
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.Find() is null && !HeadlessChromium.InCi)
            Skip = "headless Chromium not found (/usr/bin/chromium); install Debian's chromium (apt-get install -y chromium) to run the browser tests; under CI they never skip";
    }
}
