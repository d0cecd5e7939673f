using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModalFlow.Checkpoints;

/// <summary>Which llava-hf model class a config describes.</summary>
public enum LlavaKind
{
    /// <summary><c>LlavaForConditionalGeneration</c> (model_type "llava"): one 336² crop, 576 image tokens.</summary>
    Llava,

    /// <summary>
    /// <c>LlavaNextForConditionalGeneration</c> (model_type "llava_next"): anyres tiles, unpad, <c>image_newline</c>
    /// after every feature row; the image token count depends on the image (see <see cref="Models.NextGrid"/>).
    /// </summary>
    LlavaNext,
}

/// <summary>
/// A llava-hf <c>LlavaForConditionalGeneration</c> or <c>LlavaNextForConditionalGeneration</c> config.json, with
/// transformers' (v4.44) LlavaConfig / LlavaNextConfig defaults.
/// Immutable; <see cref="Load"/> validates it and throws <see cref="InputException"/> on anything not implemented.
/// </summary>
public sealed record LlavaConfig
{
    public const string LlavaArchitecture = "LlavaForConditionalGeneration";
    public const string LlavaNextArchitecture = "LlavaNextForConditionalGeneration";

    /// <summary>transformers' LlavaNextConfig default (and every published LLaVA-NeXT 336 checkpoint's list).</summary>
    public static readonly IReadOnlyList<IReadOnlyList<int>> DefaultImageGridPinpoints =
        [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]];

    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llava";
    [JsonPropertyName("image_token_index")] public int ImageTokenIndex { get; init; } = 32000;
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("projector_hidden_act")] public string ProjectorHiddenAct { get; init; } = "gelu";
    [JsonPropertyName("multimodal_projector_bias")] public bool MultimodalProjectorBias { get; init; } = true;
    [JsonPropertyName("vision_feature_select_strategy")] public string VisionFeatureSelectStrategy { get; init; } = "default";
    [JsonPropertyName("vision_feature_layer")] public JsonElement? VisionFeatureLayerRaw { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDType { get; init; }
    [JsonPropertyName("text_config")] public LlamaTextConfig? TextConfigRaw { get; init; }
    [JsonPropertyName("vision_config")] public ClipVisionConfig? VisionConfigRaw { get; init; }
    /// <summary>NeXT: candidate canvases in pixels, as the file lists them (transformers reads each as [height, width]).</summary>
    [JsonPropertyName("image_grid_pinpoints")] public IReadOnlyList<IReadOnlyList<int>>? ImageGridPinpointsRaw { get; init; }
    /// <summary>NeXT: written by the llava-hf converter (always true); transformers always uses <c>image_newline</c>.</summary>
    [JsonPropertyName("use_image_newline_parameter")] public bool? UseImageNewlineParameter { get; init; }

    /// <summary>The model class, from <c>architectures</c> / <c>model_type</c> (checked to agree on load).</summary>
    [JsonIgnore] public LlavaKind Kind { get; init; } = LlavaKind.Llava;

    [JsonIgnore] public bool IsNext => Kind == LlavaKind.LlavaNext;

    /// <summary>NeXT pinpoints ([] for LLaVA-1.5, which has none).</summary>
    [JsonIgnore]
    public IReadOnlyList<IReadOnlyList<int>> ImageGridPinpoints => !IsNext ? [] : ImageGridPinpointsRaw ?? DefaultImageGridPinpoints;

    [JsonIgnore] public LlamaTextConfig Text => TextConfigRaw ?? new LlamaTextConfig();
    [JsonIgnore] public ClipVisionConfig Vision => VisionConfigRaw ?? ClipVisionConfig.LlavaDefault;

    /// <summary>Index into CLIP's hidden states (0 = embeddings after pre-layernorm; negative from the end).</summary>
    [JsonIgnore]
    public int VisionFeatureLayer => VisionFeatureLayerRaw is { ValueKind: JsonValueKind.Number } e ? e.GetInt32() : -2;

    /// <summary>Whether CLS is dropped ("default") or kept ("full").</summary>
    [JsonIgnore] public bool DropClsToken => VisionFeatureSelectStrategy == "default";

    /// <summary>
    /// Image tokens one image contributes to the sequence (LLaVA-1.5). LLaVA-NeXT's count depends on the image:
    /// it throws there; use <see cref="NextGridFor"/> → <see cref="Models.NextGrid.ImageTokens"/>.
    /// </summary>
    [JsonIgnore]
    public int ImageTokensPerImage => !IsNext ? Vision.NumPatches + (DropClsToken ? 0 : 1)
        : throw new NotSupportedException("a LLaVA-NeXT image's token count depends on its size and canvas; use LlavaConfig.NextGridFor(...).ImageTokens");

    /// <summary>
    /// The NeXT feature grid of an image of <paramref name="originalWidth"/>×<paramref name="originalHeight"/> pixels
    /// placed on a <paramref name="canvasWidth"/>×<paramref name="canvasHeight"/> canvas (the chosen pinpoint, in
    /// pixels). Throws unless this is a NeXT config and the canvas is one of its pinpoints (in either orientation).
    /// </summary>
    public Models.NextGrid NextGridFor(int canvasWidth, int canvasHeight, int originalWidth, int originalHeight)
    {
        if (!IsNext) throw new NotSupportedException("NextGridFor: this is a LLaVA-1.5 config (no anyres grid)");
        if (!ImageGridPinpoints.Any(p => (p[0] == canvasWidth && p[1] == canvasHeight) || (p[0] == canvasHeight && p[1] == canvasWidth)))
            throw new ArgumentException($"canvas {canvasWidth}x{canvasHeight} is not one of the image_grid_pinpoints " +
                $"[{string.Join(", ", ImageGridPinpoints.Select(p => $"[{p[0]}, {p[1]}]"))}]");
        return Models.NextGrid.FromCanvas(canvasWidth, canvasHeight, Vision.ImageSize, Vision.PatchesPerSide, originalWidth, originalHeight);
    }

    /// <summary>Text decoder's lm_head shares the embedding matrix.</summary>
    [JsonIgnore] public bool TiedEmbeddings => TieWordEmbeddings || Text.TieWordEmbeddings;

    /// <summary>Number of CLIP encoder layers actually run to produce the selected features.</summary>
    [JsonIgnore]
    public int VisionLayersUsed => VisionFeatureLayer >= 0 ? VisionFeatureLayer : Vision.NumHiddenLayers + 1 + VisionFeatureLayer;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads and validates config.json from a checkpoint folder (or the file itself).</summary>
    public static LlavaConfig Load(string pathOrDir)
    {
        var file = Directory.Exists(pathOrDir) ? Path.Combine(pathOrDir, "config.json") : pathOrDir;
        if (!File.Exists(file))
            throw new InputException(file, null, "config.json not found; expected a Hugging Face checkpoint folder with config.json");
        string text;
        try { text = File.ReadAllText(file); }
        catch (IOException e) { throw new InputException(file, null, "could not be read: " + e.Message, e); }
        return Parse(text, file);
    }

    public static LlavaConfig Parse(string json, string file = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InputException(file, null, "expected a JSON object at the top level");
            var kind = CheckArchitecture(doc.RootElement, file);
            LlavaConfig config;
            try { config = doc.RootElement.Deserialize<LlavaConfig>(JsonOptions)! with { Kind = kind }; }
            catch (JsonException e)
            {
                throw new InputException(file, e.Path?.TrimStart('$', '.'), "has the wrong type: " + FirstSentence(e.Message), e);
            }
            config.Validate(file);
            return config;
        }
    }

    private static LlavaKind CheckArchitecture(JsonElement root, string file)
    {
        string? modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        var archs = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToArray()
            : [];
        if (archs.Contains("LlavaLlamaForCausalLM") || root.TryGetProperty("mm_vision_tower", out _))
            throw new InputException(file, "architectures",
                "this is an original LLaVA checkpoint (LlavaLlamaForCausalLM, mm_* keys); this build loads llava-hf " +
                $"{LlavaArchitecture} / {LlavaNextArchitecture} folders only");
        var expected = $"expected [\"{LlavaArchitecture}\"] or [\"{LlavaNextArchitecture}\"]";
        LlavaKind? fromArch = archs.Length == 0 ? null
            : archs.Contains(LlavaNextArchitecture) && !archs.Contains(LlavaArchitecture) ? LlavaKind.LlavaNext
            : archs.Contains(LlavaArchitecture) && !archs.Contains(LlavaNextArchitecture) ? LlavaKind.Llava
            : throw new InputException(file, "architectures", $"[{string.Join(", ", archs)}] is not supported; {expected}");
        LlavaKind? fromType = modelType switch
        {
            null => null,
            "llava" => LlavaKind.Llava,
            "llava_next" => LlavaKind.LlavaNext,
            _ => throw new InputException(file, "model_type", $"'{modelType}' is not supported; expected 'llava' or 'llava_next'"),
        };
        if (fromArch is { } x && fromType is { } y && x != y)
            throw new InputException(file, "model_type", $"'{modelType}' contradicts architectures [{string.Join(", ", archs)}]");
        return fromArch ?? fromType ?? throw new InputException(file, "architectures", $"missing (and no model_type); {expected}");
    }

    private void Validate(string file)
    {
        Text.Validate(file);
        Vision.Validate(file);
        if (VisionFeatureLayerRaw is { } v && v.ValueKind != JsonValueKind.Number)
            throw new InputException(file, "vision_feature_layer", $"{v.GetRawText()} is not supported; expected one integer layer index");
        int n = Vision.NumHiddenLayers;
        if (VisionFeatureLayer < -(n + 1) || VisionFeatureLayer > n)
            throw new InputException(file, "vision_feature_layer", $"{VisionFeatureLayer} is out of range for {n} CLIP layers (expected -{n + 1}..{n})");
        if (VisionFeatureSelectStrategy is not ("default" or "full"))
            throw new InputException(file, "vision_feature_select_strategy", $"'{VisionFeatureSelectStrategy}'; expected 'default' or 'full'");
        if (ProjectorHiddenAct != "gelu")
            throw new InputException(file, "projector_hidden_act", $"'{ProjectorHiddenAct}' is not supported; expected 'gelu'");
        if (ImageTokenIndex < 0)
            throw new InputException(file, "image_token_index", $"{ImageTokenIndex} must be a non-negative token id");
        if (IsNext) ValidateNext(file);
    }

    private void ValidateNext(string file)
    {
        // transformers' pack_image_features needs the 24×24 grid of the base tile: CLS must be dropped.
        if (!DropClsToken)
            throw new InputException(file, "vision_feature_select_strategy",
                $"'{VisionFeatureSelectStrategy}' is not supported for LLaVA-NeXT (its features must form a square patch grid); expected 'default'");
        if (UseImageNewlineParameter == false)
            throw new InputException(file, "use_image_newline_parameter",
                "false is not supported; LLaVA-NeXT (spatial_unpad) appends the learned image_newline after every feature row");
        if (ImageGridPinpointsRaw is { Count: 0 })
            throw new InputException(file, "image_grid_pinpoints", "is empty; expected a list of [a, b] canvas sizes in pixels");
        int tile = Vision.ImageSize;
        foreach (var p in ImageGridPinpoints)
        {
            if (p is null || p.Count != 2 || p.Any(v => v <= 0 || v % tile != 0))
                throw new InputException(file, "image_grid_pinpoints",
                    $"[{(p is null ? "null" : string.Join(", ", p))}] is not supported; expected pairs of positive multiples of vision_config.image_size = {tile}");
        }
    }

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? message[..(i + 1)] : message;
    }
}
