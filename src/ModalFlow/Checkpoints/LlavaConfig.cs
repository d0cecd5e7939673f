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

/// <summary>Which naming scheme a checkpoint folder uses, in config.json and in its weight files.</summary>
public enum CheckpointFormat
{
    /// <summary>
    /// llava-hf (<c>LlavaForConditionalGeneration</c> / <c>LlavaNextForConditionalGeneration</c>): <c>text_config</c> /
    /// <c>vision_config</c> blocks, an <c>&lt;image&gt;</c> vocabulary row, the CLIP tower in the same files.
    /// </summary>
    LlavaHf,

    /// <summary>
    /// Original LLaVA / LLaVA-NeXT (liuhaotian/*, lmms-lab/*: <c>LlavaLlamaForCausalLM</c>): Llama settings at the top
    /// level plus <c>mm_*</c> keys, no image row (the placeholder is the out-of-vocabulary id −200), weights under
    /// <c>model.*</c> / <c>model.mm_projector.*</c>, the CLIP tower either saved under
    /// <c>model.vision_tower.vision_tower.*</c> or read from the folder that <c>mm_vision_tower</c> names.
    /// </summary>
    Original,
}

/// <summary>
/// A LLaVA config.json: llava-hf <c>LlavaForConditionalGeneration</c> / <c>LlavaNextForConditionalGeneration</c>
/// (transformers' v4.44 LlavaConfig / LlavaNextConfig defaults), or an original <c>LlavaLlamaForCausalLM</c> config
/// (<see cref="CheckpointFormat.Original"/>), whose <c>mm_*</c> keys are translated into the same properties
/// (see <see cref="ParseOriginal"/>). Immutable; <see cref="Load(string, string?)"/> validates it and throws
/// <see cref="InputException"/> on anything not implemented.
/// </summary>
public sealed record LlavaConfig
{
    public const string LlavaArchitecture = "LlavaForConditionalGeneration";
    public const string LlavaNextArchitecture = "LlavaNextForConditionalGeneration";
    public const string OriginalArchitecture = "LlavaLlamaForCausalLM";

    /// <summary>LLaVA's IMAGE_TOKEN_INDEX, the placeholder of original checkpoints (no vocabulary row).</summary>
    public const int OriginalImageTokenIndex = ModalFlow.Text.LlavaPromptTokenizer.ImageTokenIndex;

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

    // ---- original LLaVA keys (null in llava-hf configs; translated into the properties above on load) ------------

    /// <summary>Original: the CLIP tower's hub id or path (e.g. <c>openai/clip-vit-large-patch14-336</c>).</summary>
    [JsonPropertyName("mm_vision_tower")] public string? MmVisionTower { get; init; }
    /// <summary>Original: CLIP hidden state to use (= <c>vision_feature_layer</c>); required.</summary>
    [JsonPropertyName("mm_vision_select_layer")] public int? MmVisionSelectLayer { get; init; }
    /// <summary>Original: "patch" (drop CLS = "default") or "cls_patch" (keep it = "full"); LLaVA's default "patch".</summary>
    [JsonPropertyName("mm_vision_select_feature")] public string? MmVisionSelectFeature { get; init; }
    /// <summary>Original: only "mlp2x_gelu" is implemented (LLaVA's default when absent is "linear").</summary>
    [JsonPropertyName("mm_projector_type")] public string? MmProjectorType { get; init; }
    /// <summary>Original: the projector's input width; must equal the CLIP hidden size.</summary>
    [JsonPropertyName("mm_hidden_size")] public int? MmHiddenSize { get; init; }
    /// <summary>Original: "pad" / "square" (LLaVA-1.5, one crop) or "anyres" (LLaVA-NeXT); LLaVA's default "square".</summary>
    [JsonPropertyName("image_aspect_ratio")] public string? ImageAspectRatio { get; init; }
    /// <summary>Original: how tiles are merged; "spatial_unpad" is required with anyres (LLaVA's default "flat").</summary>
    [JsonPropertyName("mm_patch_merge_type")] public string? MmPatchMergeType { get; init; }
    [JsonPropertyName("mm_use_im_start_end")] public bool? MmUseImStartEnd { get; init; }
    [JsonPropertyName("mm_use_im_patch_token")] public bool? MmUseImPatchToken { get; init; }

    /// <summary>Which naming scheme the folder uses (config keys and weight names).</summary>
    [JsonIgnore] public CheckpointFormat Format { get; init; } = CheckpointFormat.LlavaHf;

    [JsonIgnore] public bool IsOriginal => Format == CheckpointFormat.Original;

    /// <summary>Where <see cref="Vision"/> came from, for logs: "vision_config", a CLIP folder's config.json, or the known defaults of a tower id.</summary>
    [JsonIgnore] public string VisionConfigSource { get; init; } = "vision_config";

    /// <summary>The model class, from <c>architectures</c> / <c>model_type</c> (checked to agree on load).</summary>
    [JsonIgnore] public LlavaKind Kind { get; init; } = LlavaKind.Llava;

    [JsonIgnore] public bool IsNext => Kind == LlavaKind.LlavaNext;

    /// <summary>
    /// The single-image preprocessing of the folder's own ecosystem: an original LLaVA config says it with
    /// <c>image_aspect_ratio</c> ("pad": expand to square, the paper's LLaVA-1.5; "square" or absent: LLaVA's plain
    /// CLIP processor, shortest-edge resize + centre crop); llava-hf folders get pad, the paper's setting (their own
    /// processor crops: choose it with <c>--image-mode crop</c>). NeXT folders use anyres whatever this says.
    /// </summary>
    [JsonIgnore]
    public ModalFlow.Vision.ImageMode DefaultImageMode =>
        IsOriginal && !IsNext && (ImageAspectRatio ?? "square") == "square" ? ModalFlow.Vision.ImageMode.Crop : ModalFlow.Vision.ImageMode.Pad;

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
    public static LlavaConfig Load(string pathOrDir) => LoadWithTowerLocator(pathOrDir, null);

    /// <summary>
    /// Reads and validates config.json. For an original LLaVA config the vision settings come from the config.json of
    /// the CLIP folder at <paramref name="visionTowerDir"/> when it has one (else the known defaults of the
    /// <c>mm_vision_tower</c> id); it is not used for llava-hf configs, whose <c>vision_config</c> is authoritative.
    /// </summary>
    public static LlavaConfig Load(string pathOrDir, string? visionTowerDir) => LoadWithTowerLocator(pathOrDir, _ => visionTowerDir);

    /// <summary>
    /// As <see cref="Load(string, string?)"/>, with the CLIP folder found from the <c>mm_vision_tower</c> id by
    /// <paramref name="locateTower"/> (called only for original configs; may return null).
    /// </summary>
    public static LlavaConfig LoadWithTowerLocator(string pathOrDir, Func<string, string?>? locateTower)
    {
        var file = ReadText(Directory.Exists(pathOrDir) ? Path.Combine(pathOrDir, "config.json") : pathOrDir, out var text);
        return Parse(text, file, locateTower is null ? null : id => locateTower(id) is { } dir ? ClipVisionConfig.LoadFromClipFolder(dir) : null);
    }

    internal static string ReadText(string file, out string text)
    {
        if (!File.Exists(file))
            throw new InputException(file, null, "config.json not found; expected a Hugging Face checkpoint folder with config.json");
        try { text = File.ReadAllText(file); }
        catch (IOException e) { throw new InputException(file, null, "could not be read: " + e.Message, e); }
        return file;
    }

    public static LlavaConfig Parse(string json, string file = "config.json") => Parse(json, file, null);

    /// <summary>
    /// Parses config.json text; <paramref name="towerVision"/> is asked, with the <c>mm_vision_tower</c> id, for the CLIP
    /// folder's settings (original configs only; null = use the known defaults of the id).
    /// </summary>
    public static LlavaConfig Parse(string json, string file, Func<string, (ClipVisionConfig Config, string File)?>? towerVision)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(file, null, $"is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InputException(file, null, "expected a JSON object at the top level");
            if (IsOriginalConfig(doc.RootElement, file)) return ParseOriginal(doc.RootElement, file, towerVision);
            var kind = CheckArchitecture(doc.RootElement, file);
            var config = Bind<LlavaConfig>(doc.RootElement, file) with { Kind = kind };
            config.Validate(file);
            return config;
        }
    }

    private static T Bind<T>(JsonElement element, string file, string fieldPrefix = "")
    {
        try { return element.Deserialize<T>(JsonOptions)!; }
        catch (JsonException e)
        {
            throw new InputException(file, fieldPrefix + e.Path?.TrimStart('$', '.'), "has the wrong type: " + FirstSentence(e.Message), e);
        }
    }

    private static string? ModelTypeOf(JsonElement root) =>
        root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;

    private static string[] ArchitecturesOf(JsonElement root) =>
        root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToArray()
            : [];

    /// <summary>
    /// An original LLaVA config: <c>LlavaLlamaForCausalLM</c>, or <c>mm_vision_tower</c> without llava-hf's
    /// <c>text_config</c>. Other original decoders (LlavaMistral/Mpt/Qwen…) are refused here with a clear error.
    /// </summary>
    private static bool IsOriginalConfig(JsonElement root, string file)
    {
        var archs = ArchitecturesOf(root);
        bool hasTower = root.TryGetProperty("mm_vision_tower", out _);
        var foreign = archs.FirstOrDefault(x => x.StartsWith("Llava", StringComparison.Ordinal) && x.EndsWith("ForCausalLM", StringComparison.Ordinal)
            && x != OriginalArchitecture);
        if (foreign is not null)
            throw new InputException(file, "architectures",
                $"'{foreign}' is an original LLaVA checkpoint with a non-Llama decoder, which is not implemented; expected " +
                $"[\"{OriginalArchitecture}\"] (or llava-hf {LlavaArchitecture} / {LlavaNextArchitecture})");
        if (!archs.Contains(OriginalArchitecture) && !(hasTower && !root.TryGetProperty("text_config", out _))) return false;
        if (archs.Any(x => x != OriginalArchitecture))
            throw new InputException(file, "architectures", $"[{string.Join(", ", archs)}] mixes formats; expected [\"{OriginalArchitecture}\"]");
        var modelType = ModelTypeOf(root);
        if (modelType is not (null or "llava" or "llava_llama"))
            throw new InputException(file, "model_type",
                $"'{modelType}' is not supported for {OriginalArchitecture}; expected 'llava' or 'llava_llama' (a Llama decoder)");
        return true;
    }

    private static LlavaKind CheckArchitecture(JsonElement root, string file)
    {
        string? modelType = ModelTypeOf(root);
        var archs = ArchitecturesOf(root);
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

    /// <summary>Known CLIP towers of original configs, so that a config parses without the tower's folder.</summary>
    private static ClipVisionConfig? KnownTower(string id) => VisionTowerLocator.LastComponent(id) switch
    {
        "clip-vit-large-patch14-336" => ClipVisionConfig.LlavaDefault,
        "clip-vit-large-patch14" => ClipVisionConfig.LlavaDefault with { ImageSize = 224 },
        _ => null,
    };

    /// <summary>
    /// An original LLaVA config → the same record the llava-hf path builds (see MAPPING.md, "Config"):
    /// the top-level Llama fields become <see cref="Text"/>; <c>mm_vision_select_layer</c> → <see cref="VisionFeatureLayer"/>;
    /// <c>mm_vision_select_feature</c> patch/cls_patch → "default"/"full"; <c>mm_projector_type</c> mlp2x_gelu → a
    /// GELU projector with biases; <c>image_aspect_ratio</c> anyres (+ <c>mm_patch_merge_type</c> spatial_unpad) →
    /// LLaVA-NeXT; <see cref="ImageTokenIndex"/> = −200 (no vocabulary row); <see cref="Vision"/> from the CLIP
    /// folder's config.json when given, else the known defaults of the <c>mm_vision_tower</c> id.
    /// </summary>
    private static LlavaConfig ParseOriginal(JsonElement root, string file, Func<string, (ClipVisionConfig Config, string File)?>? towerVision)
    {
        var raw = Bind<LlavaConfig>(root, file);
        // The Llama settings sit at the top level; model_type there is "llava"/"llava_llama", the decoder is Llama.
        var text = Bind<LlamaTextConfig>(root, file) with { ModelType = "llama" };
        text.Validate(file, "");
        if (raw.TextConfigRaw is not null || raw.VisionConfigRaw is not null)
            throw new InputException(file, raw.TextConfigRaw is not null ? "text_config" : "vision_config",
                "an original LLaVA config has its settings at the top level; expected no llava-hf text_config / vision_config block");

        // LLaVA's code splices at IMAGE_TOKEN_INDEX = -200 whatever the config says; a different value would mislead.
        if (root.TryGetProperty("image_token_index", out _) && raw.ImageTokenIndex != OriginalImageTokenIndex)
            throw new InputException(file, "image_token_index",
                $"{raw.ImageTokenIndex}; an original LLaVA checkpoint uses the placeholder {OriginalImageTokenIndex} (no vocabulary row)");
        if (string.IsNullOrWhiteSpace(raw.MmVisionTower))
            throw new InputException(file, "mm_vision_tower", "missing; expected the CLIP tower's id, e.g. \"openai/clip-vit-large-patch14-336\"");
        if (raw.MmVisionSelectLayer is not { } layer)
            throw new InputException(file, "mm_vision_select_layer", "missing; expected the CLIP hidden-state index (LLaVA-1.5: -2)");
        var strategy = (raw.MmVisionSelectFeature ?? "patch") switch
        {
            "patch" => "default",
            "cls_patch" => "full",
            var other => throw new InputException(file, "mm_vision_select_feature", $"'{other}' is not supported; expected 'patch' (drop CLS) or 'cls_patch' (keep it)"),
        };
        var projector = raw.MmProjectorType ?? "linear";
        if (projector != "mlp2x_gelu")
            throw new InputException(file, "mm_projector_type",
                $"'{projector}'{(raw.MmProjectorType is null ? " (LLaVA's default when absent)" : "")} is not supported; expected 'mlp2x_gelu' (Linear-GELU-Linear, LLaVA-1.5 / NeXT)");
        if (raw.MmUseImStartEnd == true)
            throw new InputException(file, "mm_use_im_start_end", "true is not supported (image start/end tokens around the features); expected false");
        if (raw.MmUseImPatchToken == true)
            throw new InputException(file, "mm_use_im_patch_token", "true is not supported (image patch tokens in the vocabulary); expected false");
        var aspect = raw.ImageAspectRatio ?? "square";
        var kind = aspect switch
        {
            "pad" or "square" => LlavaKind.Llava,
            "anyres" => LlavaKind.LlavaNext,
            _ => throw new InputException(file, "image_aspect_ratio", $"'{aspect}' is not supported; expected 'pad', 'square' (LLaVA-1.5) or 'anyres' (LLaVA-NeXT)"),
        };
        if (kind == LlavaKind.LlavaNext)
        {
            var merge = raw.MmPatchMergeType ?? "flat";
            if (merge != "spatial_unpad")
                throw new InputException(file, "mm_patch_merge_type",
                    $"'{merge}'{(raw.MmPatchMergeType is null ? " (LLaVA's default when absent)" : "")} is not supported with anyres; expected 'spatial_unpad'");
            if (raw.ImageGridPinpointsRaw is null)
                throw new InputException(file, "image_grid_pinpoints", "missing; image_aspect_ratio 'anyres' needs the list of [a, b] canvases");
        }

        ClipVisionConfig vision;
        string source;
        if (towerVision?.Invoke(raw.MmVisionTower) is { } fromFolder)
        {
            fromFolder.Config.Validate(fromFolder.File);
            (vision, source) = (fromFolder.Config, fromFolder.File);
        }
        else if (KnownTower(raw.MmVisionTower) is { } known)
        {
            (vision, source) = (known, $"known settings of {raw.MmVisionTower}");
        }
        else
        {
            throw new InputException(file, "mm_vision_tower",
                $"'{raw.MmVisionTower}' is not a tower whose settings are known (clip-vit-large-patch14[-336]); give its folder " +
                "(--vision-tower DIR / LoadOptions.VisionTowerPath) so that its config.json supplies them");
        }
        if (raw.MmHiddenSize is { } mmHidden && mmHidden != vision.HiddenSize)
            throw new InputException(file, "mm_hidden_size", $"{mmHidden} differs from the CLIP tower's hidden_size {vision.HiddenSize} ({source})" +
                (towerVision is not null && source.StartsWith("known", StringComparison.Ordinal)
                    ? $"; no folder for '{raw.MmVisionTower}' was found to read its own config.json: pass --vision-tower DIR (LoadOptions.VisionTowerPath)"
                    : ""));
        int n = vision.NumHiddenLayers;
        if (layer < -(n + 1) || layer > n)
            throw new InputException(file, "mm_vision_select_layer", $"{layer} is out of range for {n} CLIP layers (expected -{n + 1}..{n})");

        var config = raw with
        {
            Kind = kind,
            Format = CheckpointFormat.Original,
            TextConfigRaw = text,
            VisionConfigRaw = vision,
            VisionConfigSource = source,
            VisionFeatureLayerRaw = JsonSerializer.SerializeToElement(layer),
            VisionFeatureSelectStrategy = strategy,
            ProjectorHiddenAct = "gelu",
            MultimodalProjectorBias = true,
            ImageTokenIndex = OriginalImageTokenIndex,
            UseImageNewlineParameter = kind == LlavaKind.LlavaNext ? true : null,
        };
        config.Validate(file);
        return config;
    }

    private void Validate(string file)
    {
        Text.Validate(file, IsOriginal ? "" : "text_config.");
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
        // llava-hf splices at a vocabulary row; original checkpoints have none and use LLaVA's −200 placeholder.
        if (IsOriginal ? ImageTokenIndex != OriginalImageTokenIndex : ImageTokenIndex < 0)
            throw new InputException(file, "image_token_index", IsOriginal
                ? $"{ImageTokenIndex}; an original LLaVA checkpoint uses the placeholder {OriginalImageTokenIndex}"
                : $"{ImageTokenIndex} must be a non-negative token id");
        if (IsNext) ValidateNext(file);
    }

    private void ValidateNext(string file)
    {
        // transformers' pack_image_features needs the 24×24 grid of the base tile: CLS must be dropped.
        if (!DropClsToken)
            throw new InputException(file, IsOriginal ? "mm_vision_select_feature" : "vision_feature_select_strategy",
                $"'{(IsOriginal ? MmVisionSelectFeature : VisionFeatureSelectStrategy)}' is not supported for LLaVA-NeXT (its features must form a square patch grid); expected 'default'");
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
