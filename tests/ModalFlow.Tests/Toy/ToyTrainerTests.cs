using ModalFlow.Checkpoints;
using ModalFlow.Families.Llava;
using ModalFlow.Inference;
using ModalFlow.Tests.Support;
using ModalFlow.Toy;
using Xunit;

namespace ModalFlow.Tests.Toy;

public class ToyTrainerTests
{
    private static readonly ToyTrainingOptions Tiny = new()
    {
        Seed = 3, TrainPerTask = 3, EvalPerTask = 2, Steps = 4, Batch = 4, VisionHidden = 32, VisionLayers = 2, TextHidden = 48, TextLayers = 2,
    };

    [SharedFact]
    public void Training_Writes_A_Loadable_Llava_Folder_And_Is_Reproducible_From_Its_Seed()
    {
        var a = Directory.CreateTempSubdirectory("mf-toytrain-");
        var b = Directory.CreateTempSubdirectory("mf-toytrain-");
        try
        {
            var ra = ToyTrainer.Train(a.FullName, Tiny);
            var rb = ToyTrainer.Train(b.FullName, Tiny);
            Assert.Equal(6, ra.AccuracyPerTask.Count);
            Assert.True(double.IsFinite(ra.FinalLoss));
            // Same seed, same options: the same weights, byte for byte.
            var file = SafetensorsCheckpoint.SingleFileName;
            Assert.Equal(File.ReadAllBytes(Path.Combine(ra.ModelDir, file)), File.ReadAllBytes(Path.Combine(rb.ModelDir, file)));
            // A normal llava-hf folder: it loads and answers through the ordinary predict path.
            using var m = LlavaLoadedModel.Load(ra.ModelDir);
            Assert.Equal(Tiny.TextLayers, m.Config.Text.NumHiddenLayers);
            Assert.Equal((Tiny.ImageSize / 14) * (Tiny.ImageSize / 14), m.Config.ImageTokensPerImage);
            // Training steps changed the weights (the seeded initialisation alone is not what was saved).
            var c = Directory.CreateTempSubdirectory("mf-toytrain-");
            try
            {
                var rc = ToyTrainer.Train(c.FullName, Tiny with { Steps = 1 });
                Assert.NotEqual(File.ReadAllBytes(Path.Combine(ra.ModelDir, file)), File.ReadAllBytes(Path.Combine(rc.ModelDir, file)));
            }
            finally { c.Delete(true); }
        }
        finally
        {
            a.Delete(true);
            b.Delete(true);
        }
    }
}
