using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using ModalFlow.Data;
using ModalFlow.Inference;
using ModalFlow.Results;
using ModalFlow.Results.Html;
using ModalFlow.Tests.Cli;
using ModalFlow.Toy;
using ModalFlow.Vision;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Html;

/// <summary>
/// A demo run on a small toy data set (three questions per task, two of them run per task and experiment), made once
/// for the browser tests: <c>modalflow toy data</c>, then <c>modalflow demo --data</c>, in process.
/// </summary>
public sealed class DemoReportFixture : IDisposable
{
    public DemoReportFixture()
    {
        // MODALFLOW_REPORT_DEMO=DIR: reuse DIR/data and DIR/demo made by the same two commands (iterating on the page).
        var reuse = Environment.GetEnvironmentVariable("MODALFLOW_REPORT_DEMO");
        Root = string.IsNullOrEmpty(reuse) ? Directory.CreateTempSubdirectory("mf-html-demo-").FullName : reuse;
        Data = Path.Combine(Root, "data");
        Demo = Path.Combine(Root, "demo");
        Report = Path.Combine(Demo, "report.html");
        if (!string.IsNullOrEmpty(reuse))
        {
            _keep = true;
            DemoOut = "";
            return;
        }
        var (code, _, err) = CliTests.Run("toy", "data", "--out", Data, "--per-task", "3", "--seed", "12");
        Assert.True(code == 0, err);
        (code, DemoOut, err) = CliTests.Run("demo", "--out", Demo, "--data", Data, "--per-task", "2", "--window", "1");
        Assert.True(code == 0, err);
    }

    private readonly bool _keep;

    public string Root { get; }
    public string Data { get; }
    public string Demo { get; }
    public string DemoOut { get; }
    public string Report { get; }
    public Uri Url => new(Report);

    /// <summary>Every (task, question id) the demo's stores hold, from the stores themselves.</summary>
    public IReadOnlyList<(string Task, string Qid)> StoredSamples()
    {
        var samples = new SortedSet<(string, string)>();
        foreach (var store in Directory.EnumerateFiles(Path.Combine(Demo, "runs"), RunStore.FileName, SearchOption.AllDirectories))
        {
            using var s = RunStore.Open(store);
            foreach (var k in s.FinishedSamples()) samples.Add(k);
        }
        return [.. samples];
    }

    public void Dispose()
    {
        if (_keep) return;
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// The demo's report.html in headless Chromium (Debian's, over the DevTools protocol: <see cref="HeadlessChromium"/>),
/// opened from its file:// URL: no console error and no request outside the file, one section per task, a sample page
/// with the picture the model saw and its patch overlay, and a filter click that changes the table. Set
/// MODALFLOW_SCREENSHOTS=DIR to keep screenshots of the pages.
/// </summary>
public class ReportBrowserTests(DemoReportFixture demo, ITestOutputHelper output) : IClassFixture<DemoReportFixture>
{
    private HeadlessChromium Open(string fragment = "")
    {
        var browser = HeadlessChromium.Launch();
        browser.Navigate(demo.Url + fragment);
        WaitFor(browser, "document.body.getAttribute('data-ready') === 'true'");
        return browser;
    }

    private static void WaitFor(HeadlessChromium browser, string condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!browser.Evaluate<bool>($"!!({condition})"))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"page never satisfied: {condition}; errors: {string.Join(" | ", browser.Errors)}");
            Thread.Sleep(50);
        }
    }

    private void Screenshot(HeadlessChromium browser, string name, bool fullPage = false)
    {
        var dir = Environment.GetEnvironmentVariable("MODALFLOW_SCREENSHOTS");
        if (string.IsNullOrEmpty(dir)) return;
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name + ".png");
        File.WriteAllBytes(path, browser.Screenshot(fullPage));
        output.WriteLine($"screenshot: {path}");
    }

    private static void NoErrorsNoNetwork(HeadlessChromium browser, string page)
    {
        Assert.True(browser.Errors.IsEmpty, $"{page}: console errors: {string.Join(" | ", browser.Errors)}");
        var outside = browser.Requests.Where(u => !u.StartsWith("file:", StringComparison.Ordinal) && !u.StartsWith("data:", StringComparison.Ordinal)).ToList();
        Assert.True(outside.Count == 0, $"{page}: requests outside the file: {string.Join(", ", outside)}");
    }

    [ChromiumFact]
    public void Demo_Report_Opens_From_File_Url_With_No_Console_Error_And_One_Section_Per_Task()
    {
        output.WriteLine(demo.DemoOut);
        using var browser = Open();
        var tasks = browser.Evaluate("[...document.querySelectorAll('section.task')].map(s => s.dataset.task)")!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(ToyWorld.Tasks.Select(t => t.Task).Order(), tasks.Order());
        // Every task section draws the three knockout experiments and the lens, each as an SVG chart with curves.
        foreach (var task in tasks)
        {
            int charts = browser.Evaluate<int>($"document.querySelectorAll('section.task[data-task=\"{task}\"] svg.chart path.mean').length");
            Assert.True(charts >= 3 + 1 + 3 + 2, $"{task}: {charts} mean curves drawn");
        }
        Assert.Equal(demo.StoredSamples().Count, browser.Evaluate<int>("document.querySelectorAll('#sample-rows tr').length"));
        Assert.True(browser.Evaluate<int>("document.querySelectorAll('#overview table.kv tr').length") >= 10, "the overview lists the run's settings");
        Assert.Contains("Checks of the method", browser.Evaluate<string>("document.getElementById('overview').textContent"));
        // decode() waits for each inline figure to be decoded (a data: URI still decodes asynchronously).
        Assert.True(browser.Evaluate<int>("Promise.all([...document.querySelectorAll('#overview .figures img')].map(i => i.decode().then(() => i.naturalWidth > 0 ? 1 : 0, () => 0))).then(a => a.reduce((x, y) => x + y, 0))") > 0,
            "the overview shows the figures of report.md");

        // Per-sample curves on demand.
        browser.Click("section.task[data-task=\"ChooseAttr\"] .chart-card[data-experiment=\"1|first\"] input[type=checkbox]");
        Assert.Equal(2 * 3, browser.Evaluate<int>("document.querySelectorAll('section.task[data-task=\"ChooseAttr\"] .chart-card[data-experiment=\"1|first\"] path.sample-line').length"));
        Screenshot(browser, "report-overview");
        NoErrorsNoNetwork(browser, "report.html");
    }

    [ChromiumFact]
    public void Sample_Page_Shows_The_Picture_The_Model_Saw_With_Its_Token_Grid_And_Patch_Overlay()
    {
        using var browser = Open();
        // A real click on the first row of the table opens its sample.
        browser.Click("#sample-rows tr:first-child td:nth-child(4)");
        WaitFor(browser, "!document.getElementById('sample-view').hidden && document.querySelector('#sample-view svg.overlay')");
        var task = browser.Evaluate<string>("document.querySelector('#sample-rows tr:first-child').dataset.task");
        var qid = browser.Evaluate<string>("document.querySelector('#sample-rows tr:first-child td:nth-child(3)').textContent");

        // The expected picture and patch sets, computed here from the data file and the model folder.
        var row = GqaTaskReader.ReadFile(Path.Combine(demo.Data, $"toy_{task}.csv")).Get(qid);
        var folder = ModelFolder.Read(EmbeddedToy.ModelDir);
        var sets = folder.PatchMapper(ImageMode.Pad).Map(row);
        var view = folder.View(ImageDecoder.Decode(Path.Combine(demo.Data, "images", row.ImgId + ".png")), ImageMode.Pad);

        var img = browser.Evaluate("(() => { const i = document.querySelector('#sample-view .crop img'); return { ok: i.complete, w: i.naturalWidth, h: i.naturalHeight }; })()")!;
        Assert.True((bool)img["ok"]! && (int)img["w"]! == view.Crops[0].Image.Width && (int)img["h"]! == view.Crops[0].Image.Height,
            $"the crop image did not decode at the model's {view.Crops[0].Image.Width}x{view.Crops[0].Image.Height}: {img.ToJsonString()}");
        Assert.Equal(view.Tokens.Count, browser.Evaluate<int>("document.querySelectorAll('#sample-view svg.overlay rect.cell').length"));
        var related = browser.Evaluate("[...document.querySelectorAll('#sample-view svg.overlay rect.related')].map(r => +r.dataset.k)")!.AsArray().Select(n => (int)n!).ToList();
        Assert.Equal(sets.Related, related);
        var random = browser.Evaluate("[...document.querySelectorAll('#sample-view svg.overlay rect.random')].map(r => +r.dataset.k)")!.AsArray().Select(n => (int)n!).ToList();
        Assert.Equal(sets.RandomControl(row.QuestionId), random);
        var firstRelated = sets.Related.Length > 0 ? sets.Related[0] : 0;
        var rect = browser.Evaluate($"(() => {{ const r = document.querySelector('#sample-view svg.overlay rect[data-k=\"{firstRelated}\"]'); return [+r.getAttribute('x'), +r.getAttribute('y'), +r.getAttribute('width'), +r.getAttribute('height')]; }})()")!.AsArray().Select(n => (int)n!).ToArray();
        var expected = view.Tokens[firstRelated]!.Value.Rect;
        Assert.Equal([expected.X, expected.Y, expected.Width, expected.Height], rect);

        // The prompt's question tokens spell the question; the answer and p1 are shown.
        var question = browser.Evaluate<string>("[...document.querySelectorAll('#sample-view .prompt .tok.question, #sample-view .prompt .tok.true, #sample-view .prompt .tok.false')].map(t => t.textContent).join('').replaceAll('·', ' ').trim()");
        Assert.Equal(row.Question, question);
        Assert.Equal(1, browser.Evaluate<int>("document.querySelectorAll('#sample-view .prompt .tok.last').length"));
        Assert.Contains(row.Answer, browser.Evaluate<string>("document.querySelector('#sample-view .facts').textContent"));
        Assert.True(browser.Evaluate<int>("document.querySelectorAll('#sample-view svg.chart path.mean').length") >= 3, "the sample's own curves are drawn");

        // Hiding the related set removes its fill (the toggles act on the overlay).
        browser.Click("#sample-view input[data-set=\"related\"]");
        Assert.True(browser.Evaluate<bool>("document.querySelector('#sample-view svg.overlay').classList.contains('hide-related')"));
        browser.Click("#sample-view input[data-set=\"related\"]");
        Screenshot(browser, "report-sample", fullPage: true);
        NoErrorsNoNetwork(browser, "sample page");
    }

    [ChromiumFact]
    public void A_Task_Filter_Click_Changes_The_Table_And_All_Tasks_Restores_It()
    {
        using var browser = Open("#samples");
        var stored = demo.StoredSamples();
        int all = browser.Evaluate<int>("document.querySelectorAll('#sample-rows tr').length");
        Assert.Equal(stored.Count, all);

        browser.Click("#task-filter button[data-task=\"ChooseCat\"]");
        var shown = browser.Evaluate("[...document.querySelectorAll('#sample-rows tr')].map(r => r.dataset.task)")!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(stored.Count(s => s.Task == "ChooseCat"), shown.Count);
        Assert.All(shown, t => Assert.Equal("ChooseCat", t));
        Assert.StartsWith($"Showing {shown.Count} of {stored.Count}", browser.Evaluate<string>("document.getElementById('sample-count').textContent"));

        // Sorting by question id, descending on the second click.
        browser.Click("#sample-table th[data-key=\"qid\"]");
        browser.Click("#sample-table th[data-key=\"qid\"]");
        var ids = browser.Evaluate("[...document.querySelectorAll('#sample-rows tr td:nth-child(3)')].map(t => t.textContent)")!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(ids.OrderDescending(StringComparer.Ordinal), ids);
        Screenshot(browser, "report-samples");

        browser.Click("#task-filter button[data-task=\"\"]");
        Assert.Equal(all, browser.Evaluate<int>("document.querySelectorAll('#sample-rows tr').length"));
        NoErrorsNoNetwork(browser, "samples table");
    }

    [ChromiumFact]
    public void A_Results_Table_Of_An_Unknown_Experiment_Kind_Shows_As_A_Plain_Table()
    {
        // A copy of one demo store with a table a later measurement might add (per-head values): the page must show it.
        var dir = Directory.CreateTempSubdirectory("mf-html-unknown-").FullName;
        try
        {
            foreach (var f in Directory.GetFiles(Path.Combine(demo.Demo, "runs", "exp1", "ChooseAttr"), RunStore.FileName + "*"))
                File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            var rows = new List<(string Qid, int Layer, int Head, double Value)>();
            for (int layer = 0; layer < 2; layer++)
                for (int head = 0; head < 3; head++) rows.Add(("q" + layer, layer, head, 0.25 * head - layer));
            using (var db = new SqliteConnection($"Data Source={Path.Combine(dir, RunStore.FileName)};Pooling=False"))
            {
                db.Open();
                using var create = db.CreateCommand();
                create.CommandText = "CREATE TABLE head_map (question_id TEXT, layer INTEGER, head INTEGER, value REAL)";
                create.ExecuteNonQuery();
                foreach (var r in rows)
                {
                    using var insert = db.CreateCommand();
                    insert.CommandText = "INSERT INTO head_map VALUES ($q, $l, $h, $v)";
                    insert.Parameters.AddWithValue("$q", r.Qid);
                    insert.Parameters.AddWithValue("$l", r.Layer);
                    insert.Parameters.AddWithValue("$h", r.Head);
                    insert.Parameters.AddWithValue("$v", r.Value);
                    insert.ExecuteNonQuery();
                }
            }
            var written = HtmlReport.Write(Path.Combine(dir, HtmlReport.FileName), [HtmlRunSource.Read(dir)]);
            using var browser = HeadlessChromium.Launch();
            browser.Navigate(new Uri(written.Path).ToString());
            WaitFor(browser, "document.body.getAttribute('data-ready') === 'true'");
            var table = browser.Evaluate("""
                (() => { const box = [...document.querySelectorAll('#overview .check-table')].find(b => b.querySelector('h3').textContent.includes('head_map'));
                  if (!box) return null;
                  return { columns: [...box.querySelectorAll('thead th')].map(t => t.textContent),
                           rows: [...box.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.textContent)) }; })()
                """);
            Assert.True(table is not null, "no table titled head_map in the overview");
            Assert.Equal(["question_id", "layer", "head", "value"], table["columns"]!.AsArray().Select(n => (string)n!));
            var shown = table["rows"]!.AsArray().Select(r => r!.AsArray().Select(n => (string)n!).ToList()).ToList();
            Assert.Equal(rows.Count, shown.Count);
            for (int i = 0; i < rows.Count; i++)
            {
                Assert.Equal(rows[i].Qid, shown[i][0]);
                Assert.Equal(rows[i].Head, int.Parse(shown[i][2], System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(rows[i].Value, double.Parse(shown[i][3], System.Globalization.CultureInfo.InvariantCulture));
            }
            // The run's own curves are still drawn.
            Assert.Equal(1, browser.Evaluate<int>("document.querySelectorAll('section.task').length"));
            NoErrorsNoNetwork(browser, "report.html with an unknown table");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
