% Unfold (im2col) of a 1-D signal, kernel 3, stride 2, padding 1: a
% zero-padded strided copy into a three-index tensor whose length is a
% floor, then the contraction with the weights over (c, a).
% test-sizes: C=2, n=7, K=2
input y_{c,j}, 0 \le c < C, 0 \le j < n
param w_{k,c,a}, 0 \le k < K, 0 \le c < C, 0 \le a < 3
U_{c,a,i} = y_{c, 2i + a - 1}, 0 \le c < C, 0 \le a < 3, 0 \le i < \lfloor (n - 1)/2 \rfloor + 1
x_{k,i} = \sum_{c,a} w_{k,c,a} U_{c,a,i}
output x
