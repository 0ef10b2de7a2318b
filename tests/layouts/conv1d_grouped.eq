% Grouped 1-D convolution: G groups of C input channels each, the input
% channel read as C g + c (a size coefficient) over a bound G C (a product
% of sizes); valid range inferred.
% test-sizes: G=2, C=2, M=2, n=6
input y_{c,j}, 0 \le c < G C, 0 \le j < n
param w_{g,m,c,a}, 0 \le g < G, 0 \le m < M, 0 \le c < C, 0 \le a < 3
x_{g,m,i} = \sum_{c,a} w_{g,m,c,a} y_{C g + c, i + a}
output x
