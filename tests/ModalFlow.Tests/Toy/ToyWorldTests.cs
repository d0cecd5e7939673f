using ModalFlow.Data;
using ModalFlow.Toy;
using ModalFlow.Vision;
using Xunit;

namespace ModalFlow.Tests.Toy;

public class ToyWorldTests
{
    [Fact]
    public void Toy_Tasks_Read_Back_In_The_Papers_Schemas_With_Boxes_On_The_Objects()
    {
        var dir = Directory.CreateTempSubdirectory("mf-toy-");
        try
        {
            var files = ToyWorld.Write(dir.FullName, perTask: 24, seed: 3, imageSize: 224);
            Assert.Equal(6, files.Count);
            var mapper = ObjectPatchMapper.Llava15Pad();
            foreach (var (task, file) in files)
            {
                var read = GqaTaskReader.ReadFile(file);
                Assert.Equal(task, read.Task);
                Assert.Empty(read.Errors);
                Assert.Equal(24, read.Rows.Length);
                // Both answers of each binary task occur (a model cannot win by a constant answer alone).
                Assert.True(read.Rows.Select(r => r.Answer).Distinct().Count() >= 2, $"{task}: one answer only");
                foreach (var row in read.Rows)
                {
                    var img = ImageDecoder.Decode(Path.Combine(dir.FullName, "images", row.ImgId + ".png"));
                    Assert.Equal((224, 224), (img.Width, img.Height));
                    // The central object / object1 box holds that object's colour, not the background.
                    var box = row.CentralObjectBox ?? row.Object1Box!.Value;
                    var center = img.GetPixel(box.X + box.W / 2, box.Y + box.H * 2 / 3);
                    Assert.True(ToyWorld.Colors.Any(c => c.Color.Red == center.R && c.Color.Green == center.G && c.Color.Blue == center.B),
                        $"{task} {row.QuestionId}: pixel {center} at the box centre is not an object colour");
                    Assert.NotEmpty(mapper.Map(row).Related);
                }
            }
            // Deterministic: the same seed writes the same CSVs.
            var again = Directory.CreateTempSubdirectory("mf-toy2-");
            try
            {
                var files2 = ToyWorld.Write(again.FullName, perTask: 24, seed: 3, imageSize: 224);
                foreach (var (task, file) in files) Assert.Equal(File.ReadAllText(file), File.ReadAllText(files2[task]));
            }
            finally { again.Delete(true); }
        }
        finally { dir.Delete(true); }
    }
}
