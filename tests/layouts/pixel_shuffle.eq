% PixelShuffle(2): z[c, 2p+i, 2q+j] = y[4c + 2i + j, p, q], stored as the
% five-index z_{c,p,i,q,j}: one read combines three left-hand indices.
% test-sizes: C=2, H=2, W=3
input y_{m,p,q}, 0 \le m < 4C, 0 \le p < H, 0 \le q < W
param s_c, 0 \le c < C
z_{c,p,i,q,j} = s_c y_{4c + 2i + j, p, q}, 0 \le c < C, 0 \le p < H, 0 \le i < 2, 0 \le q < W, 0 \le j < 2
output z
