using ModalFlow.Checkpoints;
using ModalFlow.Families.Llava;
using ModalFlow.Inference;
using ModalFlow.Models;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>A checkpoint that does not fit its config, and broken preprocessor configs: clear errors, never a crash in libtorch.</summary>
public class CheckpointMismatchTests
{
    private static string TinyDir => SharedData.Fixture("tiny-llava-1.5");

    /// <summary>Copies the fixture folder's small files and writes an edited copy of its weights.</summary>
    private static DirectoryInfo EditedCopy(Func<List<(string Name, Tensor T)>, List<(string Name, Tensor T)>> edit)
    {
        TorchRuntime.Initialize();
        var dir = Directory.CreateTempSubdirectory("mf-ckpt-");
        foreach (var f in Directory.GetFiles(TinyDir).Where(f => !f.EndsWith(".safetensors")))
            File.Copy(f, Path.Combine(dir.FullName, Path.GetFileName(f)));
        using var ckpt = SafetensorsCheckpoint.Open(Path.Combine(TinyDir, "model.safetensors"));
        var tensors = ckpt.Names.Select(n => (n, ckpt.Load(n))).ToList();
        var edited = edit(tensors);
        SafetensorsWriter.Write(Path.Combine(dir.FullName, "model.safetensors"), edited);
        foreach (var (_, t) in tensors) t.Dispose();
        return dir;
    }

    [SharedFact]
    public void Missing_Tensor_Is_Named_With_The_Checkpoint_And_Config_Json()
    {
        var dir = EditedCopy(ts => ts.Where(t => t.Name != "language_model.model.layers.3.mlp.up_proj.weight").ToList());
        try
        {
            var e = Assert.Throws<InputException>(() => LlavaLoadedModel.Load(dir.FullName));
            Assert.Contains(dir.FullName, e.Message);
            Assert.Contains("weights", e.Message);
            Assert.Contains("does not match config.json", e.Message);
            Assert.Contains("1 missing tensor(s): language_model.model.layers.3.mlp.up_proj.weight", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Wrong_Shape_Reports_Both_Shapes_Against_Config_Json_And_Unexpected_Tensors_Are_Listed()
    {
        var dir = EditedCopy(ts => ts.Select(t => t.Name == "multi_modal_projector.linear_1.weight" ? (t.Name, t.T[..32]) : t)
            .Append(("language_model.model.layers.99.extra.weight", zeros(2))).ToList());
        try
        {
            var e = Assert.Throws<InputException>(() => LlavaLoadedModel.Load(dir.FullName));
            Assert.Contains("multi_modal_projector.linear_1.weight: checkpoint has [32, 32], config.json implies [64, 32]", e.Message);
            Assert.Contains("does not match config.json", e.Message);
            Assert.Contains("1 unexpected tensor(s): language_model.model.layers.99.extra.weight", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Checkpoint_In_Transformers_452_Key_Scheme_Loads_To_The_Same_Numbers()
    {
        var renamed = EditedCopy(ts => ts.Select(t => (KeyMap.TransformersModern.ToFile(t.Name), t.T)).ToList());
        try
        {
            var cfg = LlavaConfig.Load(TinyDir);
            using var a = LlavaModel.Load(cfg, TinyDir, ScalarType.Float32, CPU);
            using var b = LlavaModel.Load(cfg, renamed.FullName, ScalarType.Float32, CPU);
            var pa = a.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, p) in b.named_parameters()) Assert.True(p.equal(pa[name]).all().item<bool>(), name);
        }
        finally { renamed.Delete(true); }
    }

    [SharedTheory]
    [InlineData("{\"image_processor_type\": \"LlavaNextImageProcessor\"}", "image_processor_type", "expected CLIPImageProcessor")]
    [InlineData("{\"size\": {\"height\": 336, \"width\": 336}}", "size", "shortest_edge")]
    [InlineData("{\"image_mean\": [0.5, 0.5]}", "image_mean", "expected three numbers")]
    [InlineData("{\"do_normalize\": \"yes\"}", "do_normalize", "expected true or false")]
    [InlineData("{\"crop_size\": {\"height\": 224, \"width\": 224}}", "crop_size", "does not match the vision tower")]
    [InlineData("{ not json", "preprocessor_config.json", "not valid JSON")]
    public void Bad_Preprocessor_Config_Names_File_Field_And_Expectation(string json, string field, string expectation)
    {
        var dir = Directory.CreateTempSubdirectory("mf-pre-");
        try
        {
            var file = Path.Combine(dir.FullName, PreprocessorConfig.FileName);
            File.WriteAllText(file, json);
            var e = Assert.Throws<InputException>(() => PreprocessorConfig.Load(dir.FullName, ClipVisionConfig.LlavaDefault, out _));
            Assert.Contains(file, e.Message);
            Assert.Contains(field, e.Message);
            Assert.Contains(expectation, e.Message);
        }
        finally { dir.Delete(true); }
    }

    [SharedFact]
    public void Preprocessor_Configs_Of_Real_And_Fixture_Folders_Give_The_Clip_Defaults()
    {
        foreach (var dir in new[] { TinyDir, SharedData.DataFile("model-configs", "llava-hf__llava-1.5-7b-hf") })
        {
            var o = PreprocessorConfig.Load(dir, ClipVisionConfig.LlavaDefault, out bool fromFile);
            Assert.True(fromFile);
            Assert.Equal(ModalFlow.Vision.ImageProcessingOptions.LlavaHf, o);
        }
    }
}
