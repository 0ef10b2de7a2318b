% Depthwise 3x3 convolution with zero padding 1: one kernel per channel.
% test-sizes: C=3, H=5, W=4
input y_{c,p,q}, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{c,a,b}, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{c,i,j} = \sum_{a,b} w_{c,a,b} y_{c,i+a-1,j+b-1}, 0 \le c < C, 0 \le i < H, 0 \le j < W
