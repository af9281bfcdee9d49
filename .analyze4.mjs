import * as esbuild from 'esbuild';
const entry = process.argv[2];
const r = await esbuild.build({ entryPoints:[entry], bundle:true, platform:'node', target:'node22', minify:true, format:'esm', mainFields:['module','main'], metafile:true, write:false, outfile:'/tmp/out.js', logLevel:'error', alias: {'@aws-sdk/credential-provider-node': './lambdas/env-creds.ts'} });
const out = Object.values(r.metafile.outputs)[0];
for (const [f, v] of Object.entries(out.inputs).filter(([f])=>!f.includes('node_modules')).sort((a,b)=>b[1].bytesInOutput-a[1].bytesInOutput)) console.log((v.bytesInOutput/1024).toFixed(1).padStart(8), f);
