using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using ModalFlow.Inference;
using ModalFlow.Tracing;
using TorchSharp;

namespace ModalFlow.Cli;

/// <summary>
/// Options several commands share, typed and validated when the command line is parsed (a bad value is a parse error:
/// exit 2 before anything loads). Shared options are single instances; a verb takes a whole group with
/// <see cref="CommandExtensions.Add(Command, IEnumerable{Option})"/>, so adding an option to a group (e.g. a device
/// option to <see cref="Compute"/>) is one line in the group and one where it is read.
/// </summary>
public static class CommonOptions
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Print stack traces with errors", Recursive = true };

    // ---- group: every verb that reads a model folder (predict, trace, run, positions, inspect) ----

    public static readonly Option<string?> Tokenizer = new("--tokenizer")
    {
        Description = "Explicit tokenizer file (e.g. Meta's Llama-3 tokenizer.model for a folder without one)", HelpName = "FILE",
    };

    public static readonly Option<string?> AnyresMode = Choice<string?>("--anyres",
        "LLaVA-NeXT anyres arithmetic: transformers (llava-hf default) or llava-next (the original code the paper ran)", null,
        "transformers", "llava-next");

    public static readonly Option<string?> VisionTower = new("--vision-tower")
    {
        Description = "Original LLaVA checkpoints: the CLIP folder mm_vision_tower names (default: a sibling folder named like its last component, e.g. ../clip-vit-large-patch14-336)",
        HelpName = "DIR",
    };

    public static readonly Option<int?> MinPixels = OptionalInt("--min-pixels", "Qwen2-VL: smart_resize's smallest image area in pixels (default: preprocessor_config.json's)");
    public static readonly Option<int?> MaxPixels = OptionalInt("--max-pixels", "Qwen2-VL: smart_resize's largest image area in pixels (default: preprocessor_config.json's; Qwen2-VL-Instruct: 12845056)");

    public static readonly Option<bool> MapWeights = new("--map-weights")
    {
        Description = "Use safetensors weights already in the compute dtype straight from a memory mapping of the files (no copy: a warm load of 1 GB in ~0.4 s instead of ~1.1 s); the files must not be rewritten while the process runs",
    };

    /// <summary>How a model folder is read.</summary>
    public static IReadOnlyList<Option> ModelFolder { get; } = [Tokenizer, AnyresMode, VisionTower, MinPixels, MaxPixels, MapWeights];

    // ---- group: every verb that runs a model (predict, trace, run) ----

    public static readonly Option<string> DType = Choice("--dtype",
        "Compute dtype: f32 (parity), bf16 (half the memory, ~2x faster matmuls on this CPU) or f16 (the paper's precision); softmax, norms and the lens stay in f32",
        "f32", [.. ComputeDTypes.Names]);

    public static readonly Option<string> Device = DeviceOption();

    /// <summary>How a model runs.</summary>
    public static IReadOnlyList<Option> Compute { get; } = [DType, Device];

    private static Option<string> DeviceOption()
    {
        var o = new Option<string>("--device") { Description = "cpu, cuda or cuda:N (CUDA needs the GPU build: README, GPU users)", DefaultValueFactory = _ => "cpu", HelpName = "cpu|cuda|cuda:N" };
        o.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (!System.Text.RegularExpressions.Regex.IsMatch(t.Value, "^(cpu|cuda(:[0-9]+)?)$"))
                    r.AddError($"--device: '{t.Value}' is not cpu, cuda or cuda:N");
        });
        return o;
    }

    // ---- per-verb options made the same way everywhere ----

    public static Option<string> Model() => new("--model")
    {
        Description = "Checkpoint folder (llava-hf or original LLaVA: config.json, *.safetensors or pytorch_model*.bin, tokenizer.model)",
        Required = true, HelpName = "DIR",
    };

    public static Option<string> Image() => new("--image") { Description = "Image file (JPEG or PNG)", Required = true, HelpName = "FILE" };
    public static Option<string> Question() => new("--question") { Description = "The question, as in the paper's CSVs", Required = true, HelpName = "TEXT" };
    public static Option<bool> Json() => new("--json") { Description = "Print exactly one JSON object on stdout" };

    public static Option<string> ImageMode() => Choice("--image-mode",
        "auto: the folder's own (original LLaVA: its image_aspect_ratio; llava-hf: pad); pad: LLaVA-1.5 as the paper (expand to square); crop: shortest-edge resize + centre crop (llava-hf processor, LLaVA 'square')",
        "auto", "auto", "pad", "crop");

    public static Option<string> Engine() => Choice("--engine",
        "fast: exact suffix recomputation (default); naive: full forward per knockout (the reference)", "fast", "fast", "naive");

    public static Option<string> Out(string description, string? defaultValue = null)
    {
        var o = new Option<string>("--out") { Description = description, HelpName = "DIR" };
        if (defaultValue is null) o.Required = true;
        else o.DefaultValueFactory = _ => defaultValue;
        return o;
    }

    /// <summary>An integer option of at least <paramref name="min"/>, checked at parse time.</summary>
    public static Option<int> Int(string name, string description, int defaultValue, int min = 1) => new(name)
    {
        Description = description, DefaultValueFactory = _ => defaultValue, HelpName = "N", CustomParser = r => ParseInt(r, name, min),
    };

    /// <summary>An optional integer option (absent: null) of at least <paramref name="min"/>.</summary>
    public static Option<int?> OptionalInt(string name, string description, int min = 1) => new(name)
    {
        Description = description, HelpName = "N", CustomParser = r => ParseInt(r, name, min),
    };

    /// <summary>A string option that takes one of <paramref name="values"/> (shown in help as <c>a|b|c</c>; anything else is a parse error with a suggestion).</summary>
    public static Option<T> Choice<T>(string name, string description, T defaultValue, params string[] values)
    {
        var o = new Option<T>(name) { Description = description, HelpName = string.Join('|', values) };
        if (defaultValue is not null) o.DefaultValueFactory = _ => defaultValue;
        o.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (!values.Contains(t.Value, StringComparer.Ordinal))
                    r.AddError($"{name}: '{t.Value}' is not one of {string.Join(", ", values)}{Suggest.Hint(t.Value, values)}");
        });
        return o;
    }

    /// <summary>Repeatable <c>--block 'Source->Target'</c>; both sides must be among <paramref name="names"/> (checked at parse time).</summary>
    public static Option<string[]> Blocks(string description, IReadOnlyList<string> names, bool required = false)
    {
        var o = new Option<string[]>("--block") { Description = description, Required = required, AllowMultipleArgumentsPerToken = false, HelpName = "'Source->Target'" };
        o.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
            {
                BlockDescriptor b;
                try { b = BlockDescriptor.Parse(t.Value); }
                catch (InputException e) { r.AddError("--block: " + e.Message[(e.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..]); continue; }
                foreach (var side in new[] { b.Source, b.Target }.Where(n => !names.Contains(n, StringComparer.Ordinal)))
                    r.AddError($"--block '{t.Value}': unknown position set '{side}'{Suggest.Hint(side, names)}; expected one of {string.Join(", ", names)}");
            }
        });
        return o;
    }

    /// <summary>
    /// Comma-separated fractions, each in [0, 1] or a percentage with '%' (<c>0.5,25%</c>; repeatable), checked at parse time.
    /// </summary>
    public static Option<double[]> Fractions(string name, string description, double[] defaultValue) => new(name)
    {
        Description = description, HelpName = "R[,R…]", DefaultValueFactory = _ => defaultValue, CustomParser = r => ParseFractions(r, name),
    };

    /// <summary>Comma-separated whole numbers of at least <paramref name="min"/> (<c>2,4</c>; repeatable), checked at parse time.</summary>
    public static Option<int[]> IntList(string name, string description, int[] defaultValue, int min = 0) => new(name)
    {
        Description = description, HelpName = "K[,K…]", DefaultValueFactory = _ => defaultValue, CustomParser = r => ParseIntList(r, name, min),
    };

    private static IEnumerable<string> ListItems(ArgumentResult r) =>
        r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.TrimEntries));

    private static double[] ParseFractions(ArgumentResult r, string name)
    {
        var values = new List<double>();
        foreach (var item in ListItems(r))
        {
            bool percent = item.EndsWith('%');
            var number = percent ? item[..^1] : item;
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            {
                r.AddError($"{name}: '{item}' is not a number; expected a fraction like 0.5 or a percentage like 50%");
                continue;
            }
            double f = percent ? v / 100 : v;
            if (f < 0 || f > 1) r.AddError($"{name}: '{item}'; expected a fraction in [0, 1] or a percentage in [0%, 100%]");
            else values.Add(f);
        }
        return [.. values];
    }

    private static int[] ParseIntList(ArgumentResult r, string name, int min)
    {
        var values = new List<int>();
        foreach (var item in ListItems(r))
        {
            if (!int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) r.AddError($"{name}: '{item}' is not a whole number");
            else if (v < min) r.AddError($"{name}: {v}; expected at least {min}");
            else values.Add(v);
        }
        return [.. values];
    }

    private static int ParseInt(ArgumentResult r, string name, int min)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
        {
            r.AddError($"{name}: '{text}' is not a whole number");
            return 0;
        }
        if (v < min) r.AddError($"{name}: {v}; expected at least {min}");
        return v;
    }

    /// <summary>Null for "auto" (the folder decides).</summary>
    public static ModalFlow.Vision.ImageMode? ParseImageMode(string s) => s switch
    {
        "crop" => ModalFlow.Vision.ImageMode.Crop,
        "pad" => ModalFlow.Vision.ImageMode.Pad,
        _ => null,
    };

    /// <summary>The model-loading settings of <see cref="ModelFolder"/> and <see cref="Compute"/> (compute defaults where the verb has none).</summary>
    public static LoadOptions Load(ParseResult parse) => new()
    {
        VisionTowerPath = parse.GetValue(VisionTower),
        DType = parse.GetResult(DType) is null ? torch.ScalarType.Float32 : ComputeDTypes.Parse(parse.GetValue(DType)!),
        Device = parse.GetResult(Device) is null ? null : ComputeDevices.Parse(parse.GetValue(Device)!),
        MinPixels = parse.GetResult(MinPixels) is null ? null : parse.GetValue(MinPixels),
        MaxPixels = parse.GetResult(MaxPixels) is null ? null : parse.GetValue(MaxPixels),
        TokenizerFile = parse.GetValue(Tokenizer),
        MapWeights = parse.GetValue(MapWeights),
        Anyres = parse.GetValue(AnyresMode) switch
        {
            "llava-next" => ModalFlow.Vision.AnyresArithmetic.LlavaNext,
            "transformers" => ModalFlow.Vision.AnyresArithmetic.Transformers,
            _ => null,
        },
    };

    public static KnockoutEngineKind ParseEngine(string s) => s == "naive" ? KnockoutEngineKind.Naive : KnockoutEngineKind.Fast;
}

public static class CommandExtensions
{
    /// <summary>Adds a group of shared options (see <see cref="CommonOptions.ModelFolder"/>, <see cref="CommonOptions.Compute"/>).</summary>
    public static Command Add(this Command command, IEnumerable<Option> group)
    {
        foreach (var o in group) command.Options.Add(o);
        return command;
    }
}
