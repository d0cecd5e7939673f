/* Test-writing-time oracle: decodes JPEG/PNG the way Pillow 9.4 `Image.open(p).convert("RGB")` does
   (JPEG: system libjpeg-turbo 2.1.5, the library Debian 12's python3-pil links, with Pillow's defaults: ISLOW IDCT,
   fancy upsampling, out_color_space RGB/GRAYSCALE/CMYK, CMYK assumed Adobe-inverted then Pillow's cmyk2rgb;
   PNG: libpng raw samples + Pillow's unpackers/converters: 16-bit samples -> high byte, 16-bit grey "I" -> clip to
   0..255, 1/2/4-bit grey scaled, palette looked up, alpha dropped). Also writes synthetic test images.
   Usage: pilimg decode in out.rgb   -> prints "W H", writes RGB8
          pilimg make outdir          -> writes the synthetic images */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <png.h>

typedef unsigned char u8;
static int MULDIV255(int a, int b) { int t = a * b + 128; return ((t >> 8) + t) >> 8; }
static int CLIP8(int v) { return v <= 0 ? 0 : v < 256 ? v : 255; }

struct jerr { struct jpeg_error_mgr pub; jmp_buf jb; };
static void jerr_exit(j_common_ptr c) { struct jerr *e = (struct jerr *)c->err; (*c->err->output_message)(c); longjmp(e->jb, 1); }

static u8 *decode_jpeg(const char *path, int *W, int *H) {
    FILE *f = fopen(path, "rb"); if (!f) return NULL;
    struct jpeg_decompress_struct ci; struct jerr je;
    ci.err = jpeg_std_error(&je.pub); je.pub.error_exit = jerr_exit;
    if (setjmp(je.jb)) { fprintf(stderr, "libjpeg error\n"); exit(3); }
    jpeg_create_decompress(&ci); jpeg_stdio_src(&ci, f); jpeg_read_header(&ci, TRUE);
    int nc = ci.num_components;
    if (nc == 1) ci.out_color_space = JCS_GRAYSCALE; else if (nc == 3) ci.out_color_space = JCS_RGB; else ci.out_color_space = JCS_CMYK;
    jpeg_start_decompress(&ci);
    int w = ci.output_width, h = ci.output_height, oc = ci.output_components;
    u8 *row = malloc((size_t)w * oc), *out = malloc((size_t)w * h * 3);
    while (ci.output_scanline < ci.output_height) {
        int y = ci.output_scanline; JSAMPROW r = row; jpeg_read_scanlines(&ci, &r, 1);
        for (int x = 0; x < w; x++) {
            u8 *o = out + ((size_t)y * w + x) * 3;
            if (oc == 1) { o[0] = o[1] = o[2] = row[x]; }
            else if (oc == 3) { memcpy(o, row + x * 3, 3); }
            else { /* "CMYK;I": invert, then cmyk2rgb */
                int c = 255 - row[x*4], m = 255 - row[x*4+1], yy = 255 - row[x*4+2], k = 255 - row[x*4+3], nk = 255 - k;
                o[0] = CLIP8(nk - MULDIV255(c, nk)); o[1] = CLIP8(nk - MULDIV255(m, nk)); o[2] = CLIP8(nk - MULDIV255(yy, nk));
            }
        }
    }
    jpeg_finish_decompress(&ci); jpeg_destroy_decompress(&ci); fclose(f); free(row);
    *W = w; *H = h; return out;
}

static u8 *decode_png(const char *path, int *W, int *H) {
    FILE *f = fopen(path, "rb"); if (!f) return NULL;
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL); png_infop in = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) { fprintf(stderr, "libpng error\n"); exit(3); }
    png_init_io(p, f);
    png_read_info(p, in);
    int bd = png_get_bit_depth(p, in); /* the file's bit depth, before png_set_packing makes it 8 */
    if (bd < 8) png_set_packing(p);
    if (png_get_interlace_type(p, in) != PNG_INTERLACE_NONE) png_set_interlace_handling(p);
    png_read_update_info(p, in);
    int w = png_get_image_width(p, in), h = png_get_image_height(p, in), ct = png_get_color_type(p, in);
    png_bytepp rows = malloc(sizeof(png_bytep) * h);
    for (int y = 0; y < h; y++) rows[y] = malloc(png_get_rowbytes(p, in));
    png_read_image(p, rows);
    png_colorp pal = NULL; int npal = 0; if (ct == PNG_COLOR_TYPE_PALETTE) png_get_PLTE(p, in, &pal, &npal);
    u8 *out = malloc((size_t)w * h * 3);
    int bps = bd == 16 ? 2 : 1;
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) {
        u8 *o = out + ((size_t)y * w + x) * 3; u8 *r = rows[y];
        switch (ct) {
        case PNG_COLOR_TYPE_GRAY:
            if (bd == 16) { int v = (r[x*2] << 8) | r[x*2+1]; o[0] = o[1] = o[2] = CLIP8(v); }
            else { int v = r[x]; v = bd == 1 ? v * 255 : bd == 2 ? v * 0x55 : bd == 4 ? v * 0x11 : v; o[0] = o[1] = o[2] = v; }
            break;
        case PNG_COLOR_TYPE_GRAY_ALPHA: o[0] = o[1] = o[2] = r[x * 2 * bps]; break;
        case PNG_COLOR_TYPE_RGB: for (int c = 0; c < 3; c++) o[c] = r[(x * 3 + c) * bps]; break;
        case PNG_COLOR_TYPE_RGB_ALPHA: for (int c = 0; c < 3; c++) o[c] = r[(x * 4 + c) * bps]; break;
        case PNG_COLOR_TYPE_PALETTE: { int i = r[x]; if (i < npal) { o[0] = pal[i].red; o[1] = pal[i].green; o[2] = pal[i].blue; } else { o[0] = o[1] = o[2] = 0; } break; }
        }
    }
    png_destroy_read_struct(&p, &in, NULL); fclose(f);
    *W = w; *H = h; return out;
}

/* ---- synthetic images ---- */
static int px(int x, int y, int c, int w, int h) { return (x * 255 / (w > 1 ? w - 1 : 1) * (c == 0) + y * 255 / (h > 1 ? h - 1 : 1) * (c == 1) + ((x ^ y) * 37 + c * 91) % 256 * (c == 2)) & 255; }

static void write_png(const char *path, int w, int h, int ct, int bd, int interlace, int withTrns, int withGama) {
    FILE *f = fopen(path, "wb"); png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL); png_infop in = png_create_info_struct(p);
    png_init_io(p, f);
    png_set_IHDR(p, in, w, h, bd, ct, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256]; for (int i = 0; i < 256; i++) { pal[i].red = i; pal[i].green = (i * 7) & 255; pal[i].blue = 255 - i; }
        int n = 1 << bd; png_set_PLTE(p, in, pal, n);
        if (withTrns) { png_byte t[256]; for (int i = 0; i < n; i++) t[i] = (png_byte)(i * 3); png_set_tRNS(p, in, t, n, NULL); }
    } else if (withTrns) {
        png_color_16 tc; memset(&tc, 0, sizeof tc); tc.gray = 0; tc.red = 0; tc.green = 0; tc.blue = 0; png_set_tRNS(p, in, NULL, 0, &tc);
    }
    if (withGama) { png_set_gAMA(p, in, 1.0 / 1.8); png_set_cHRM(p, in, 0.3127, 0.3290, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06); }
    png_write_info(p, in);
    int ch = ct == PNG_COLOR_TYPE_GRAY ? 1 : ct == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : ct == PNG_COLOR_TYPE_RGB ? 3 : ct == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1;
    int bps = bd == 16 ? 2 : 1;
    png_bytepp rows = malloc(sizeof(png_bytep) * h);
    for (int y = 0; y < h; y++) {
        rows[y] = calloc((size_t)w * ch * bps + 8, 1);
        for (int x = 0; x < w; x++) for (int c = 0; c < ch; c++) {
            int v;
            if (bd == 16) {
                /* full 16-bit range with low bytes that make rounding and truncation disagree */
                v = ((px(x, y, c % 3, w, h) << 8) | ((x * 53 + y * 29 + c * 71) & 255)) & 0xFFFF;
                if (ct == PNG_COLOR_TYPE_GRAY && (x + y) % 4 == 0) v = (x * 7 + y) % 300; /* small values (Pillow clips I to 0..255) */
                if ((ct == PNG_COLOR_TYPE_RGB_ALPHA && c == 3) || (ct == PNG_COLOR_TYPE_GRAY_ALPHA && c == 1)) v = ((x * 997 + y * 31) % 65536);
                rows[y][(x * ch + c) * 2] = v >> 8; rows[y][(x * ch + c) * 2 + 1] = v & 255;
            } else if (bd < 8) {
                int maxv = (1 << bd) - 1; v = ((x * 3 + y * 5 + c) % (maxv + 1));
                int bit = x * bd; rows[y][bit / 8] |= (png_byte)(v << (8 - bd - bit % 8));
            } else {
                v = px(x, y, c % 3, w, h);
                if ((ct == PNG_COLOR_TYPE_RGB_ALPHA && c == 3) || (ct == PNG_COLOR_TYPE_GRAY_ALPHA && c == 1)) v = (x * 13 + y * 7) % 256; /* incl. alpha 0 with colour */
                if (ct == PNG_COLOR_TYPE_PALETTE) v = (x * 11 + y * 3) % 256;
                rows[y][x * ch + c] = (png_byte)v;
            }
        }
    }
    png_write_image(p, rows); png_write_end(p, NULL); png_destroy_write_struct(&p, &in); fclose(f);
}

static void write_jpeg_ex(const char *path, int w, int h, int nc, int progressive, int quality, int hs, int vs, int arith, int exifOrientation);
static void write_jpeg(const char *path, int w, int h, int nc, int progressive, int quality) { write_jpeg_ex(path, w, h, nc, progressive, quality, 0, 0, 0, 0); }
static int g_cmyk_mode = 0; /* 0: YCCK + Adobe marker, 1: plain CMYK + Adobe marker, 2: plain CMYK without Adobe marker */
static void write_jpeg_ex(const char *path, int w, int h, int nc, int progressive, int quality, int hs, int vs, int arith, int exifOrientation) {
    FILE *f = fopen(path, "wb"); struct jpeg_compress_struct c; struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e); jpeg_create_compress(&c); jpeg_stdio_dest(&c, f);
    c.image_width = w; c.image_height = h; c.input_components = nc;
    c.in_color_space = nc == 1 ? JCS_GRAYSCALE : nc == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c); jpeg_set_quality(&c, quality, TRUE);
    if (nc == 4) { jpeg_set_colorspace(&c, g_cmyk_mode == 0 ? JCS_YCCK : JCS_CMYK); if (g_cmyk_mode == 2) c.write_Adobe_marker = FALSE; }
    if (progressive) jpeg_simple_progression(&c);
    if (hs) { c.comp_info[0].h_samp_factor = hs; c.comp_info[0].v_samp_factor = vs; c.comp_info[1].h_samp_factor = c.comp_info[1].v_samp_factor = 1; c.comp_info[2].h_samp_factor = c.comp_info[2].v_samp_factor = 1; }
    if (arith) c.arith_code = TRUE;
    jpeg_start_compress(&c, TRUE);
    if (exifOrientation) {
        /* minimal little-endian EXIF: IFD0 with one entry, Orientation (0x0112) SHORT = exifOrientation */
        unsigned char ex[] = {'E','x','i','f',0,0, 'I','I',42,0, 8,0,0,0, 1,0, 0x12,0x01, 3,0, 1,0,0,0, (unsigned char)exifOrientation,0,0,0, 0,0,0,0};
        jpeg_write_marker(&c, JPEG_APP0 + 1, ex, sizeof ex);
    }
    u8 *row = malloc((size_t)w * nc);
    while (c.next_scanline < c.image_height) {
        int y = c.next_scanline;
        for (int x = 0; x < w; x++) for (int k = 0; k < nc; k++) row[x * nc + k] = (u8)(nc == 4 ? 255 - px(x, y, k % 3, w, h) / (k == 3 ? 3 : 1) : px(x, y, k, w, h));
        JSAMPROW r = row; jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c); jpeg_destroy_compress(&c); fclose(f); free(row);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "decode")) {
        int w, h; u8 sig[8] = {0}; FILE *f = fopen(argv[2], "rb"); if (!f) return 2; if (fread(sig, 1, 8, f) < 2) return 2; fclose(f);
        u8 *o = (sig[0] == 0xFF && sig[1] == 0xD8) ? decode_jpeg(argv[2], &w, &h) : decode_png(argv[2], &w, &h);
        f = fopen(argv[3], "wb"); fwrite(o, 1, (size_t)w * h * 3, f); fclose(f); printf("%d %d\n", w, h); return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "make")) {
        char b[4096]; const char *d = argv[2];
#define P(name) (snprintf(b, sizeof b, "%s/%s", d, name), b)
        write_jpeg(P("grey.jpg"), 61, 47, 1, 0, 90);
        write_jpeg(P("grey_progressive.jpg"), 61, 47, 1, 1, 90);
        write_jpeg(P("rgb_progressive.jpg"), 203, 101, 3, 1, 85);
        write_jpeg(P("cmyk.jpg"), 59, 43, 4, 0, 90);
        g_cmyk_mode = 1; write_jpeg(P("cmyk_plain.jpg"), 59, 43, 4, 0, 90);
        g_cmyk_mode = 2; write_jpeg(P("cmyk_no_adobe.jpg"), 59, 43, 4, 0, 90); g_cmyk_mode = 0;
        write_jpeg_ex(P("rgb422.jpg"), 67, 45, 3, 0, 85, 2, 1, 0, 0);
        write_jpeg_ex(P("rgb440.jpg"), 67, 45, 3, 0, 85, 1, 2, 0, 0);
        write_jpeg_ex(P("rgb411.jpg"), 67, 45, 3, 0, 85, 4, 1, 0, 0);
        write_jpeg_ex(P("rgb420_progressive.jpg"), 67, 45, 3, 1, 85, 2, 2, 0, 0);
        write_jpeg_ex(P("rgb_arith.jpg"), 67, 45, 3, 0, 85, 2, 2, 1, 0);
        write_jpeg_ex(P("rgb_exif_orientation6.jpg"), 67, 45, 3, 0, 85, 2, 2, 0, 6);
        write_png(P("rgba8.png"), 37, 23, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, 0, 0);
        write_png(P("rgba16.png"), 37, 23, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, 0, 0);
        write_png(P("rgb16.png"), 37, 23, PNG_COLOR_TYPE_RGB, 16, 0, 0, 0);
        write_png(P("grey16.png"), 37, 23, PNG_COLOR_TYPE_GRAY, 16, 0, 0, 0);
        write_png(P("grey8.png"), 37, 23, PNG_COLOR_TYPE_GRAY, 8, 0, 0, 0);
        write_png(P("grey4.png"), 37, 23, PNG_COLOR_TYPE_GRAY, 4, 0, 0, 0);
        write_png(P("grey2.png"), 37, 23, PNG_COLOR_TYPE_GRAY, 2, 0, 0, 0);
        write_png(P("grey1.png"), 37, 23, PNG_COLOR_TYPE_GRAY, 1, 0, 0, 0);
        write_png(P("greyalpha8.png"), 37, 23, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0, 0);
        write_png(P("greyalpha16.png"), 37, 23, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 0, 0);
        write_png(P("palette8.png"), 37, 23, PNG_COLOR_TYPE_PALETTE, 8, 0, 0, 0);
        write_png(P("palette8_trns.png"), 37, 23, PNG_COLOR_TYPE_PALETTE, 8, 0, 1, 0);
        write_png(P("palette4.png"), 37, 23, PNG_COLOR_TYPE_PALETTE, 4, 0, 0, 0);
        write_png(P("rgb8_trns.png"), 37, 23, PNG_COLOR_TYPE_RGB, 8, 0, 1, 0);
        write_png(P("rgb8_interlaced.png"), 37, 23, PNG_COLOR_TYPE_RGB, 8, 1, 0, 0);
        write_png(P("rgb8_gama.png"), 37, 23, PNG_COLOR_TYPE_RGB, 8, 0, 0, 1);
        return 0;
    }
    fprintf(stderr, "usage\n"); return 1;
}
