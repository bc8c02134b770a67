/* The rasterizer of lit_gen/data/faces/raster.py, one triangle at a time.
 *
 * It does, in float32, the same operations in the same order as the torch version (built with
 * -ffp-contract=off, so no multiply-add is fused), so the two give the same triangles and weights:
 * tests/test_faces.py compares them. The torch version does each step over every (image, triangle) at once,
 * which is ~60 passes over 10^5-entry arrays per batch; here a triangle that covers no pixel centre costs
 * its box and nothing else.
 *
 * Conventions as in raster.py: x to the right, y down, in pixels; pixel (i, j) has its centre at
 * (j + 0.5, i + 0.5); smaller depth is nearer; the nearest fragment wins, a tie goes to the higher triangle.
 */
#include <math.h>
#include <stdint.h>

#define EDGE_EPS 1e-6f

static inline float min3(float a, float b, float c) { float m = a < b ? a : b; return m < c ? m : c; }
static inline float max3(float a, float b, float c) { float m = a > b ? a : b; return m > c ? m : c; }

/* ceilf and floorf are library calls on baseline x86-64 (no SSE4.1 rounding); through an int they are a few
 * instructions, and equal to them for |v| < 2^23 (larger values are passed to the library) */
static inline float ceil_(float v)
{
    if (!(fabsf(v) < 8388608.0f)) return ceilf(v);
    const float f = (float)(int32_t)v;
    return f < v ? f + 1.0f : f;
}
static inline float floor_(float v)
{
    if (!(fabsf(v) < 8388608.0f)) return floorf(v);
    const float f = (float)(int32_t)v;
    return f > v ? f - 1.0f : f;
}

/* screen: (B, V, 3) x, y, depth; tris: (T, 3); tri_out: (B, H, W), -1 on the background;
 * bary_out: (3, B, H, W), 0 on the background; scratch: H * W + 5 * T floats.
 * Per image, a branch-free pass over the triangles keeps those whose box holds a pixel centre (on a face mesh
 * at 32-128 px, most triangles are smaller than a pixel and hold none), then those are drawn. */
void lit_gen_rasterize(int64_t B, int64_t V, int64_t T, int64_t H, int64_t W, const float *screen,
                       const int64_t *tris, int64_t *tri_out, float *bary_out, float *scratch)
{
    const int64_t plane = B * H * W;
    float *zbuf = scratch, *bx = scratch + H * W, *by = bx + T, *bnx = by + T, *bny = bnx + T;
    int32_t *kept = (int32_t *)(bny + T);
    const float wmax = (float)(W - 1), hmax = (float)(H - 1);
    for (int64_t b = 0; b < B; ++b) {
        const float *s = screen + b * V * 3;
        int64_t *tri_b = tri_out + b * H * W;
        float *w0_b = bary_out + b * H * W, *w1_b = w0_b + plane, *w2_b = w1_b + plane;
        for (int64_t p = 0; p < H * W; ++p) {
            zbuf[p] = INFINITY;
            tri_b[p] = -1;
            w0_b[p] = w1_b[p] = w2_b[p] = 0.0f;
        }
        int64_t n = 0;
        for (int64_t t = 0; t < T; ++t) {
            const float *c0 = s + 3 * tris[3 * t], *c1 = s + 3 * tris[3 * t + 1], *c2 = s + 3 * tris[3 * t + 2];
            const float X0 = c0[0], X1 = c1[0], X2 = c2[0], Y0 = c0[1], Y1 = c1[1], Y2 = c2[1];
            /* the pixel-centre ranges of the box, clipped to the image */
            float x0 = ceil_(min3(X0, X1, X2) - 0.5f), y0 = ceil_(min3(Y0, Y1, Y2) - 0.5f);
            x0 = x0 < 0.0f ? 0.0f : x0;
            y0 = y0 < 0.0f ? 0.0f : y0;
            float xe = floor_(max3(X0, X1, X2) - 0.5f), ye = floor_(max3(Y0, Y1, Y2) - 0.5f);
            xe = xe > wmax ? wmax : xe;
            ye = ye > hmax ? hmax : ye;
            const float A = (X1 - X0) * (Y2 - Y0) - (X2 - X0) * (Y1 - Y0);
            bx[n] = x0;
            by[n] = y0;
            bnx[n] = xe - x0 + 1.0f;
            bny[n] = ye - y0 + 1.0f;
            kept[n] = (int32_t)t;
            n += (bnx[n] > 0.0f) & (bny[n] > 0.0f) & (fabsf(A) > 1e-12f);
        }
        for (int64_t k = 0; k < n; ++k) {
            const int64_t t = kept[k];
            const float *c0 = s + 3 * tris[3 * t], *c1 = s + 3 * tris[3 * t + 1], *c2 = s + 3 * tris[3 * t + 2];
            const float X0 = c0[0], X1 = c1[0], X2 = c2[0], Y0 = c0[1], Y1 = c1[1], Y2 = c2[1];
            const float Z0 = c0[2], Z1 = c1[2], Z2 = c2[2];
            const float A = (X1 - X0) * (Y2 - Y0) - (X2 - X0) * (Y1 - Y0);
            const float x0 = bx[k], y0 = by[k];
            const int64_t ix0 = (int64_t)x0, iy0 = (int64_t)y0, inx = (int64_t)bnx[k], iny = (int64_t)bny[k];
            for (int64_t dy = 0; dy < iny; ++dy) {
                const float py = (y0 + (float)dy) + 0.5f;
                for (int64_t dx = 0; dx < inx; ++dx) {
                    const float px = (x0 + (float)dx) + 0.5f;
                    /* w_i: the doubled area opposite corner i over the triangle's, the barycentric weights */
                    const float w0 = ((X2 - X1) * (py - Y1) - (Y2 - Y1) * (px - X1)) / A;
                    const float w1 = ((X0 - X2) * (py - Y2) - (Y0 - Y2) * (px - X2)) / A;
                    const float w2 = (1.0f - w0) - w1;
                    if (!(w0 >= -EDGE_EPS && w1 >= -EDGE_EPS && w2 >= -EDGE_EPS)) continue;
                    const float depth = (w0 * Z0 + w1 * Z1) + w2 * Z2;
                    const int64_t p = (iy0 + dy) * W + ix0 + dx;
                    if (depth <= zbuf[p]) {
                        zbuf[p] = depth;
                        tri_b[p] = t;
                        w0_b[p] = w0;
                        w1_b[p] = w1;
                        w2_b[p] = w2;
                    }
                }
            }
        }
    }
}

/* renderer.py's vertex normals: verts (F, V, 3); out (3, F, V), the unit area-weighted mean of the adjacent
 * triangles' normals. Summed in index_add_'s order (corner 0 of every triangle, then corner 1, then corner 2). */
void lit_gen_vertex_normals(int64_t F, int64_t V, int64_t T, const float *verts, const int64_t *tris, float *out)
{
    const int64_t plane = F * V;
    for (int64_t f = 0; f < F; ++f) {
        const float *v = verts + f * V * 3;
        float *nx = out + f * V, *ny = nx + plane, *nz = ny + plane;
        for (int64_t i = 0; i < V; ++i) nx[i] = ny[i] = nz[i] = 0.0f;
        for (int j = 0; j < 3; ++j) {
            for (int64_t t = 0; t < T; ++t) {
                const float *a = v + 3 * tris[3 * t], *b = v + 3 * tris[3 * t + 1], *c = v + 3 * tris[3 * t + 2];
                const float e1x = b[0] - a[0], e1y = b[1] - a[1], e1z = b[2] - a[2];
                const float e2x = c[0] - a[0], e2y = c[1] - a[1], e2z = c[2] - a[2];
                const int64_t k = tris[3 * t + j];
                nx[k] += e1y * e2z - e1z * e2y;
                ny[k] += e1z * e2x - e1x * e2z;
                nz[k] += e1x * e2y - e1y * e2x;
            }
        }
        for (int64_t i = 0; i < V; ++i) {
            float len = sqrtf((nx[i] * nx[i] + ny[i] * ny[i]) + nz[i] * nz[i]);
            const float inv = 1.0f / (len < 1e-12f ? 1e-12f : len);
            nx[i] = nx[i] * inv;
            ny[i] = ny[i] * inv;
            nz[i] = nz[i] * inv;
        }
    }
}

/* renderer.py's Lambert + ambient shading, without the specular term.
 * tri (views, H, W) and bary (3, views, H, W) from lit_gen_rasterize; normals (3, F, V) unit vertex normals;
 * vface (views) the face of each view; toward (views, 3) the viewer's direction in the face's frame;
 * view_of (N) the view of each image; light (N, 3) its light direction in the face's frame; albedo (C);
 * scratch: 3 * views * H * W floats (each view's normal map). images (N, C, H, W), masks (N, H, W). */
void lit_gen_shade(int64_t views, int64_t N, int64_t C, int64_t H, int64_t W, int64_t F, int64_t V,
                   const int64_t *tris, const int64_t *tri, const float *bary, const float *normals,
                   const int64_t *vface, const float *toward, const int64_t *view_of, const float *light,
                   const float *albedo, float ambient, float diffuse, float *images, float *masks, float *scratch)
{
    const int64_t P = H * W, plane = views * P, nplane = F * V;
    for (int64_t v = 0; v < views; ++v) {
        const float *nx_u = normals + vface[v] * V, *ny_u = nx_u + nplane, *nz_u = ny_u + nplane;
        const float tx = toward[3 * v], ty = toward[3 * v + 1], tz = toward[3 * v + 2];
        float *mx = scratch + 3 * v * P, *my = mx + P, *mz = my + P;
        for (int64_t p = 0; p < P; ++p) {
            const int64_t t = tri[v * P + p];
            if (t < 0) {
                mx[p] = my[p] = mz[p] = 0.0f;
                continue;
            }
            const float w0 = bary[v * P + p], w1 = bary[plane + v * P + p], w2 = bary[2 * plane + v * P + p];
            const int64_t a = tris[3 * t], b = tris[3 * t + 1], c = tris[3 * t + 2];
            const float x = (w0 * nx_u[a] + w1 * nx_u[b]) + w2 * nx_u[c];
            const float y = (w0 * ny_u[a] + w1 * ny_u[b]) + w2 * ny_u[c];
            const float z = (w0 * nz_u[a] + w1 * nz_u[b]) + w2 * nz_u[c];
            const float len = sqrtf((x * x + y * y) + z * z);
            float scale = 1.0f / (len < 1e-12f ? 1e-12f : len);
            /* two-sided: a back face is lit as seen */
            if ((x * tx + y * ty) + z * tz < 0.0f) scale = -scale;
            mx[p] = x * scale;
            my[p] = y * scale;
            mz[p] = z * scale;
        }
    }
    for (int64_t n = 0; n < N; ++n) {
        const int64_t v = view_of[n];
        const float *mx = scratch + 3 * v * P, *my = mx + P, *mz = my + P;
        const int64_t *tv = tri + v * P;
        const float lx = light[3 * n], ly = light[3 * n + 1], lz = light[3 * n + 2];
        float *mask = masks + n * P;
        for (int64_t p = 0; p < P; ++p) mask[p] = tv[p] >= 0 ? 1.0f : 0.0f;
        for (int64_t ch = 0; ch < C; ++ch) {
            float *img = images + (n * C + ch) * P;
            const float al = albedo[ch];
            for (int64_t p = 0; p < P; ++p) {
                float d = (mx[p] * lx + my[p] * ly) + mz[p] * lz;
                d = d < 0.0f ? 0.0f : d;
                float value = (ambient + diffuse * d) * al;
                value = value < 0.0f ? 0.0f : (value > 1.0f ? 1.0f : value);
                img[p] = value * mask[p];
            }
        }
    }
}
