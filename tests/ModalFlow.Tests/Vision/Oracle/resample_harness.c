/* Runs Pillow 9.4's ImagingResample (Resample.c, compiled unmodified) on 8-bit RGB images.
   Usage 1: harness in.rgb w h W H out.rgb    (raw RGB8 interleaved)
   Usage 2: harness --table                  (deterministic random images, prints FNV-1a 64 of each output) */
#include "Imaging.h"
#include <stdio.h>
Imaging ImagingResample(Imaging imIn, int xsize, int ysize, int filter, float box[4]);
Imaging ImagingNewDirty(const char *mode, int xsize, int ysize) {
    Imaging im = calloc(1, sizeof(*im));
    strcpy(im->mode, "RGB"); im->type = IMAGING_TYPE_UINT8; im->bands = 3; im->xsize = xsize; im->ysize = ysize;
    im->pixelsize = 4; im->linesize = xsize * 4;
    im->image = malloc(sizeof(char *) * (ysize > 0 ? ysize : 1));
    for (int y = 0; y < ysize; y++) im->image[y] = calloc(xsize * 4, 1);
    im->image32 = (INT32 **)im->image;
    return im;
}
void ImagingDelete(Imaging im) { if (!im) return; for (int y = 0; y < im->ysize; y++) free(im->image[y]); free(im->image); free(im); }
Imaging ImagingCopy(Imaging in) { Imaging o = ImagingNewDirty("RGB", in->xsize, in->ysize); for (int y = 0; y < in->ysize; y++) memcpy(o->image[y], in->image[y], in->xsize * 4); return o; }
static Imaging from_rgb(const UINT8 *p, int w, int h) { Imaging im = ImagingNewDirty("RGB", w, h); for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) { memcpy(im->image[y] + x * 4, p + (y * w + x) * 3, 3); im->image[y][x * 4 + 3] = (char)255; } return im; }
static void to_rgb(Imaging im, UINT8 *p) { for (int y = 0; y < im->ysize; y++) for (int x = 0; x < im->xsize; x++) memcpy(p + (y * im->xsize + x) * 3, im->image[y] + x * 4, 3); }
/* Pillow's Image.resize: same size -> copy; else ImagingResample with box (0,0,w,h). */
static Imaging pil_resize(Imaging in, int W, int H) {
    if (W == in->xsize && H == in->ysize) return ImagingCopy(in);
    float box[4] = {0, 0, (float)in->xsize, (float)in->ysize};
    return ImagingResample(in, W, H, IMAGING_TRANSFORM_BICUBIC, box);
}
static uint64_t fnv(const UINT8 *p, size_t n) { uint64_t h = 1469598103934665603ULL; for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ULL; } return h; }
/* xorshift32 seeded per case; the C# test regenerates the same bytes. */
static uint32_t rs;
static UINT8 next_byte(void) { rs ^= rs << 13; rs ^= rs >> 17; rs ^= rs << 5; return (UINT8)(rs >> 24); }
int main(int argc, char **argv) {
    if (argc == 7) {
        int w = atoi(argv[2]), h = atoi(argv[3]), W = atoi(argv[4]), H = atoi(argv[5]);
        FILE *f = fopen(argv[1], "rb"); UINT8 *p = malloc((size_t)w * h * 3); if (fread(p, 1, (size_t)w * h * 3, f) != (size_t)w * h * 3) return 2; fclose(f);
        Imaging o = pil_resize(from_rgb(p, w, h), W, H);
        UINT8 *q = malloc((size_t)W * H * 3); to_rgb(o, q);
        f = fopen(argv[6], "wb"); fwrite(q, 1, (size_t)W * H * 3, f); fclose(f); return 0;
    }
    static const int cases[][4] = {
        {1,1,1,1},{1,1,5,3},{1,1,336,336},{7,1,3,1},{1,9,1,4},{3,3,7,7},{5,4,5,9},{9,5,4,5},{16,16,3,3},{17,13,336,257},
        {570,380,504,336},{380,570,336,504},{682,1024,336,504},{1024,682,504,336},{1439,1439,336,336},{500,375,448,336},
        {375,500,336,448},{800,533,504,336},{640,480,448,336},{2,2,1,1},{2,3,1,1},{11,7,10,6},{333,334,336,337},{337,335,336,336},
        {101,50,1,1},{50,101,2,2},{4,4,13,2},{13,2,4,4},{1000,667,504,336},{36,1000,336,9333}};
    int n = sizeof cases / sizeof cases[0];
    for (int c = 0; c < n; c++) {
        int w = cases[c][0], h = cases[c][1], W = cases[c][2], H = cases[c][3];
        rs = 0x9E3779B9u ^ (uint32_t)(c + 1);
        UINT8 *p = malloc((size_t)w * h * 3);
        /* even cases: pure noise (exercises the clipping); odd cases: gradient plus 3 bits of noise */
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) for (int ch = 0; ch < 3; ch++) {
            UINT8 r = next_byte();
            p[(y * w + x) * 3 + ch] = (c % 2 == 0) ? r : (UINT8)((x * 200) / w + (y * 48) / h + (r & 7));
        }
        Imaging o = pil_resize(from_rgb(p, w, h), W, H);
        UINT8 *q = malloc((size_t)W * H * 3); to_rgb(o, q);
        printf("(%d, %d, %d, %d, 0x%016llXUL),\n", w, h, W, H, (unsigned long long)fnv(q, (size_t)W * H * 3));
        free(p); free(q);
    }
    return 0;
}
